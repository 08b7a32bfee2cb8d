"""Reading a record the way a careful clinician does (protocol-facts.md §1, "How a record is
read"): codes first, text only for an entry with no code from a known system and then read for
negation and qualifiers, pregnancy and breastfeeding as Observations, psychosis and
cerebrovascular disease as history, every haemorrhage code, a record as it stood on the day."""

from datetime import date
from typing import Any

import pytest

from ketaclinic.fhir.record import record_from_bundle
from ketaclinic.knowledge.screening import ROUTES, screen
from tests.fhir_builders import (
    ICD10,
    ON,
    allergy,
    baseline,
    bundle,
    condition,
    medication,
    patient,
    status_observation,
    text_condition,
    text_medication,
)
from tests.knowledge.test_screening_vignettes import Vignette as Case

LOCAL = "http://clinic.example/local-codes"
INDICATIONS = [
    ("36474008", "Severe recurrent major depression without psychotic features", None),
    ("F33.2", "Major depressive disorder, recurrent severe without psychotic features", ICD10),
    ("76441001", "Severe single episode of major depression without psychotic features", None),
    ("F32.2", "Major depressive disorder, single episode, severe without psychotic features",
     ICD10),
    ("370143000", "Major depressive disorder", None),
    ("F33.9", "Major depressive disorder, recurrent, unspecified", ICD10),
    ("47505003", "Posttraumatic stress disorder", None),
    ("F43.10", "Post-traumatic stress disorder, unspecified", ICD10),
    ("21897009", "Generalized anxiety disorder", None),
    ("F41.1", "Generalized anxiety disorder", ICD10),
    ("203082005", "Fibromyalgia", None),
    ("M79.7", "Fibromyalgia", ICD10),
    ("128200000", "Complex regional pain syndrome", None),
    ("G90.50", "Complex regional pain syndrome I, unspecified", ICD10),
    ("82423001", "Chronic pain", None),
]


def _indication(code: str, display: str, system: str | None) -> dict[str, Any]:
    return condition(code, display, system) if system else condition(code, display)


C = Case
INDICATION_CASES = [
    C(f"indication {code} {display}, {route}", route, [*baseline(), _indication(code, display, system)],
      "eligible")
    for code, display, system in INDICATIONS for route in ROUTES
]

FINDING_CASES = [
    # Aneurysm and malformation: coded, text only, negated text.
    C("aneurysm coded", "iv", [*baseline(), condition("I67.1", "Cerebral aneurysm", ICD10)],
      "not-eligible", {"aneurysm"}),
    C("aneurysm in text only", "iv", [*baseline(), text_condition("Cerebral aneurysm, 4 mm")],
      "not-eligible", {"aneurysm"}),
    C("aneurysm in a local code's text", "oral",
      [*baseline(), text_condition("Thoracic aortic aneurysm", system=LOCAL)], "not-eligible",
      {"aneurysm"}),
    C("aneurysm negated in text", "iv",
      [*baseline(), text_condition("CT angiogram: no aneurysm")], "eligible"),
    C("aneurysm ruled out in text", "iv",
      [*baseline(), text_condition("Suspected aneurysm, ruled out")], "eligible"),
    C("a known code outside the value set is not read as text", "iv",
      [*baseline(), condition("999999999", "Thoracic aortic aneurysm")], "eligible"),
    C("AVM coded", "im", [*baseline(), condition("Q28.2", "AVM of cerebral vessels", ICD10)],
      "not-eligible", {"arteriovenous-malformation"}),
    C("AVM in text only", "im",
      [*baseline(), text_condition("Arteriovenous malformation, left parietal")],
      "not-eligible", {"arteriovenous-malformation"}),
    C("AVM excluded in text", "im",
      [*baseline(), text_condition("Arteriovenous malformation excluded on MRI")], "eligible"),
    # Every intracranial haemorrhage code is a history rule.
    *[C(f"haemorrhage {code}", "esketamine",
        [*baseline(), condition(code, display, ICD10, status="resolved", abatement="2012-01-01")],
        "not-eligible", {"intracranial-haemorrhage"})
      for code, display in [("I60.9", "Nontraumatic subarachnoid hemorrhage, unspecified"),
                            ("I61.9", "Nontraumatic intracerebral hemorrhage, unspecified"),
                            ("I62.00", "Nontraumatic subdural hemorrhage, unspecified"),
                            ("I69.10", "Unspecified sequelae of nontraumatic intracerebral hemorrhage"),
                            ("I69.098", "Other sequelae following nontraumatic subarachnoid hemorrhage"),
                            ("I69.20", "Unspecified sequelae of other intracranial hemorrhage")]],
    C("haemorrhage by SNOMED, resolved", "iv",
      [*baseline(), condition("274100004", "Cerebral hemorrhage", status="resolved",
                              abatement="2011-01-01")], "not-eligible",
      {"intracranial-haemorrhage"}),
    C("haemorrhage in text only", "iv",
      [*baseline(), text_condition("Subarachnoid haemorrhage 2015", status="resolved")],
      "not-eligible", {"intracranial-haemorrhage"}),
    C("haemorrhage negated in text", "iv",
      [*baseline(), text_condition("Head CT: no intracranial hemorrhage")], "eligible"),
    # Allergy.
    C("ketamine allergy coded", "iv", [*baseline(), allergy("6130", "ketamine")], "not-eligible",
      {"ketamine-hypersensitivity"}),
    C("ketamine allergy in text only", "esketamine",
      [*baseline(), allergy("x", "ketamine") | {"code": {"text": "Ketamine (rash)"}}],
      "not-eligible", {"ketamine-hypersensitivity"}),
    C("ketamine allergy denied in text", "iv",
      [*baseline(), allergy("x", "x") | {"code": {"text": "Denies ketamine allergy"}}],
      "eligible"),
    # An intolerance (not immune-mediated) is not the hypersensitivity that blocks, unless its
    # criticality is high; an allergy, or one of no stated type, blocks.
    C("ketamine intolerance", "iv",
      [*baseline(), allergy("6130", "ketamine") | {"type": "intolerance", "criticality": "low"}],
      "needs-review", {"ketamine-intolerance"}, {"ketamine-hypersensitivity"}),
    C("ketamine intolerance of unassessed criticality", "esketamine",
      [*baseline(), allergy("6130", "ketamine") | {"type": "intolerance"}],
      "needs-review", {"ketamine-intolerance"}, {"ketamine-hypersensitivity"}),
    C("ketamine intolerance of high criticality", "iv",
      [*baseline(), allergy("6130", "ketamine") | {"type": "intolerance", "criticality": "high"}],
      "not-eligible", {"ketamine-hypersensitivity"}, {"ketamine-intolerance"}),
    C("ketamine allergy typed as one", "oral",
      [*baseline(), allergy("6130", "ketamine") | {"type": "allergy", "criticality": "low"}],
      "not-eligible", {"ketamine-hypersensitivity"}, {"ketamine-intolerance"}),
    # Psychosis: active blocks, history is a caution, "without psychotic features" is neither.
    C("active psychosis coded", "iv", [*baseline(), condition("F29", "Unspecified psychosis", ICD10)],
      "not-eligible", {"active-psychosis"}, {"psychotic-disorder"}),
    C("depression with psychotic features", "esketamine",
      [*baseline(), condition("28475009", "Severe recurrent major depression with psychotic features")],
      "not-eligible", {"active-psychosis"}),
    C("mania with psychotic features", "iv",
      [*baseline(), condition("F31.2", "Bipolar disorder, current episode manic severe with "
                                       "psychotic features", ICD10)],
      "not-eligible", {"active-psychosis", "bipolar-disorder"}),
    C("active psychosis in text only", "iv", [*baseline(), text_condition("Acute psychosis")],
      "not-eligible", {"active-psychosis"}),
    C("psychosis negated in text", "iv",
      [*baseline(), text_condition("Severe recurrent major depression without psychotic features")],
      "eligible"),
    C("bipolar depression without psychotic features is bipolar, not psychosis", "iv",
      [*baseline(), condition("F31.4", "Bipolar disorder, current episode depressed, severe, "
                                       "without psychotic features", ICD10)],
      "needs-review", {"bipolar-disorder"}, {"active-psychosis", "psychotic-disorder"}),
    C("schizophrenia in remission", "iv",
      [*baseline(), condition("58214004", "Schizophrenia", status="remission")], "needs-review",
      {"psychotic-disorder"}, {"active-psychosis"}),
    C("schizophrenia active is a caution", "esketamine",
      [*baseline(), condition("F20.9", "Schizophrenia, unspecified", ICD10)], "needs-review",
      {"psychotic-disorder"}),
    C("past psychotic episode", "oral",
      [*baseline(), condition("F23", "Brief psychotic disorder", ICD10, status="resolved",
                              abatement="2018-01-01")], "needs-review", {"psychotic-disorder"},
      {"active-psychosis"}),
    C("schizophrenia in remission, text only", "iv",
      [*baseline(), text_condition("Schizophrenia, in remission")], "needs-review",
      {"psychotic-disorder"}, {"active-psychosis"}),
    C("psychosis in remission by text is not active", "iv",
      [*baseline(), text_condition("Psychosis in full remission")], "needs-review",
      {"psychotic-disorder"}, {"active-psychosis"}),
    C("family history of schizophrenia", "iv",
      [*baseline(), text_condition("Family history of schizophrenia")], "eligible"),
    # Cardiovascular and cerebrovascular.
    C("coronary disease coded", "iv", [*baseline(), condition("I25.10", "CAD", ICD10)],
      "needs-review", {"cardiovascular-disease"}),
    C("coronary disease in text only", "iv", [*baseline(), text_condition("Coronary artery disease")],
      "needs-review", {"cardiovascular-disease"}),
    C("angina negated in text", "iv", [*baseline(), text_condition("Chest pain, no angina")],
      "eligible"),
    C("cardiac arrest coded, as Synthea records it", "iv",
      [*baseline(), condition("410429000", "Cardiac Arrest")], "needs-review",
      {"cardiovascular-disease"}),
    C("history of cardiac arrest coded", "esketamine",
      [*baseline(), condition("429007001", "History of cardiac arrest (situation)")],
      "needs-review", {"cardiovascular-disease"}),
    C("personal history of sudden cardiac arrest in ICD-10-CM", "iv",
      [*baseline(), condition("Z86.74", "Personal history of sudden cardiac arrest", ICD10)],
      "needs-review", {"cardiovascular-disease"}),
    C("atrial fibrillation coded", "iv",
      [*baseline(), condition("49436004", "Atrial fibrillation")], "needs-review",
      {"cardiovascular-disease"}),
    C("atrial fibrillation in ICD-10-CM", "oral",
      [*baseline(), condition("I48.91", "Unspecified atrial fibrillation", ICD10)],
      "needs-review", {"cardiovascular-disease"}),
    C("old ischaemic stroke still counts", "esketamine",
      [*baseline(), condition("I63.9", "Cerebral infarction", ICD10, status="resolved",
                              abatement="2016-01-01")], "needs-review", {"cerebrovascular-disease"},
      {"stroke-unknown-kind"}),
    C("sequelae of cerebral infarction", "iv",
      [*baseline(), condition("I69.30", "Unspecified sequelae of cerebral infarction", ICD10)],
      "needs-review", {"cerebrovascular-disease"}, {"intracranial-haemorrhage"}),
    C("ischaemic stroke in text only", "iv",
      [*baseline(), text_condition("Old ischemic stroke", status="resolved")], "needs-review",
      {"cerebrovascular-disease"}, {"stroke-unknown-kind"}),
    C("stroke of unknown kind coded", "iv", [*baseline(), condition("230690007", "Stroke")],
      "needs-review", {"stroke-unknown-kind"}),
    C("stroke of unknown kind in text", "iv", [*baseline(), text_condition("Stroke 2019")],
      "needs-review", {"stroke-unknown-kind"}),
    C("heat stroke is not a stroke", "iv", [*baseline(), text_condition("Heat stroke, 2023")],
      "eligible"),
    # Hypertension, and what is not arterial hypertension.
    C("hypertension coded", "esketamine", [*baseline(), condition("I10", "Essential hypertension",
                                                                   ICD10)],
      "needs-review", {"hypertension"}),
    C("hypertension in text only", "iv", [*baseline(), text_condition("Essential hypertension")],
      "needs-review", {"hypertension"}),
    C("pulmonary hypertension is not arterial hypertension", "iv",
      [*baseline(), text_condition("Pulmonary hypertension")], "eligible"),
    C("ocular hypertension is raised intraocular pressure", "iv",
      [*baseline(), text_condition("Ocular hypertension")], "needs-review",
      {"raised-intracranial-or-intraocular-pressure"}, {"hypertension"}),
    C("hypertension denied", "iv", [*baseline(), text_condition("Denies hypertension")], "eligible"),
    C("mother's hypertension", "iv",
      [*baseline(), text_condition("Mother has hypertension")], "eligible"),
    C("hypertensive encephalopathy in text", "iv",
      [*baseline(), text_condition("Hypertensive encephalopathy 2019", status="resolved")],
      "needs-review", {"hypertensive-encephalopathy"}),
    # Substance use: current counts, remission does not.
    C("opioid use disorder coded", "iv", [*baseline(), condition("F11.20", "Opioid dependence",
                                                                  ICD10)],
      "needs-review", {"substance-use-disorder"}),
    C("alcohol dependence in remission coded", "iv",
      [*baseline(), condition("F10.21", "Alcohol dependence, in remission", ICD10)], "eligible"),
    C("alcohol dependence in remission in text", "iv",
      [*baseline(), text_condition("Alcohol dependence in remission")], "eligible"),
    C("opioid use disorder in text", "iv", [*baseline(), text_condition("Opioid use disorder")],
      "needs-review", {"substance-use-disorder"}),
    C("drug misuse coded, as Synthea records it", "iv",
      [*baseline(), condition("361055000", "Misuses drugs (finding)")], "needs-review",
      {"substance-use-disorder"}),
    C("drug misuse resolved", "iv",
      [*baseline(), condition("361055000", "Misuses drugs (finding)", status="resolved",
                              abatement="2011-10-18")], "eligible"),
    C("alcoholism coded", "iv", [*baseline(), condition("7200002", "Alcoholism")],
      "needs-review", {"substance-use-disorder"}),
    C("drug dependence coded", "esketamine",
      [*baseline(), condition("191816009", "Drug dependence")], "needs-review",
      {"substance-use-disorder"}),
    # Pregnancy and breastfeeding, as Conditions and as Observations.
    C("pregnancy coded", "esketamine", [*baseline(), condition("77386006", "Pregnant")],
      "needs-review", {"pregnancy"}),
    C("pregnancy in text only", "iv", [*baseline(), text_condition("Pregnant, 12 weeks")],
      "needs-review", {"pregnancy"}),
    C("not pregnant in text", "iv", [*baseline(), text_condition("Not pregnant")], "eligible"),
    C("pregnancy status observation: pregnant", "iv",
      [*baseline(), status_observation("82810-3", code="77386006")], "needs-review", {"pregnancy"}),
    C("pregnancy status observation: not pregnant", "iv",
      [*baseline(), status_observation("82810-3", code="60001007")], "eligible"),
    C("positive urine hCG", "esketamine",
      [*baseline(), status_observation("2106-3", text="Positive")], "needs-review", {"pregnancy"}),
    C("positive serum hCG as a coded answer", "iv",
      [*baseline(), status_observation("2118-8", code="LA6576-8", system="http://loinc.org")],
      "needs-review", {"pregnancy"}),
    C("a positive hCG followed by a negative one", "iv",
      [*baseline(), status_observation("2106-3", text="Positive", days_before=20),
       status_observation("2106-3", text="Negative", days_before=3)], "eligible"),
    # A pregnancy status taken at a prenatal visit, the pregnancy recorded as ended since (the
    # delivery): the observation is no longer current. One taken after the end still is.
    C("a prenatal pregnancy status, the pregnancy ended since", "iv",
      [*baseline(), status_observation("82810-3", code="77386006", days_before=100),
       condition("72892002", "Normal pregnancy", status="resolved", onset="2026-02-01",
                 abatement="2026-10-21")], "eligible"),
    C("a pregnancy that ended, then a positive hCG", "iv",
      [*baseline(), condition("72892002", "Normal pregnancy", status="resolved",
                              onset="2026-02-01", abatement="2026-10-21"),
       status_observation("2106-3", text="Positive", days_before=5)], "needs-review",
      {"pregnancy"}),
    C("lactation recorded as ended after a breastfeeding status", "iv",
      [*baseline(), status_observation("63895-7", boolean=True, days_before=60),
       condition("Z39.1", "Lactating mother", ICD10, status="resolved", onset="2026-05-01",
                 abatement="2026-11-01")], "eligible"),
    C("a positive hCG from two years ago", "iv",
      [*baseline(), status_observation("2106-3", text="Positive", days_before=730)], "eligible"),
    C("breastfeeding coded", "iv", [*baseline(), condition("Z39.1", "Lactating mother", ICD10)],
      "needs-review", {"breastfeeding"}),
    C("breastfeeding status observation", "esketamine",
      [*baseline(), status_observation("63895-7", boolean=True)], "needs-review",
      {"breastfeeding"}),
    C("breastfeeding in text only", "iv", [*baseline(), text_condition("Currently breastfeeding")],
      "needs-review", {"breastfeeding"}),
    # Other conditions in text.
    C("cirrhosis in text", "oral", [*baseline(), text_condition("Alcoholic cirrhosis of liver")],
      "needs-review", {"hepatic-impairment"}),
    C("glaucoma in text", "iv", [*baseline(), text_condition("Open-angle glaucoma")],
      "needs-review", {"raised-intracranial-or-intraocular-pressure"}),
    C("past cystitis in text", "esketamine",
      [*baseline(), text_condition("Interstitial cystitis", status="resolved")], "needs-review",
      {"cystitis-history"}),
    # Age and birth date.
    C("no birth date", "iv", [patient(birth=""), *baseline()[1:]], "needs-review",
      {"birth-date-missing"}, {"age-under-minimum"}),
    # A birth year alone: 18 if born in January, 17 if in December (screened 2026-11-20).
    C("a birth year that may be under 18", "esketamine", [patient(birth="2008"), *baseline()[1:]],
      "needs-review", {"birth-date-partial"}, {"age-under-minimum"}),
    C("a birth month wholly over 18", "iv", [patient(birth="2008-06"), *baseline()[1:]],
      "eligible"),
    C("a birth month that may be under 18", "iv", [patient(birth="2008-11"), *baseline()[1:]],
      "needs-review", {"birth-date-partial"}),
    C("a birth year wholly under 18", "iv", [patient(birth="2010"), *baseline()[1:]],
      "not-eligible", {"age-under-minimum"}, {"birth-date-partial"}),
    # Medicines.
    C("clobazam 20 mg a day before esketamine", "esketamine",
      [*baseline(), medication("21241", "clobazam", dose_mg=10, per_day=2)], "needs-review",
      {"benzodiazepine-load", "benzodiazepine"}),
    C("triazolam at night before IM ketamine", "im",
      [*baseline(), medication("10767", "triazolam", dose_mg=0.5, per_day=1)], "needs-review",
      {"benzodiazepine-load"}),
    C("clorazepate without a dose", "oral", [*baseline(), medication("2353", "clorazepate")],
      "needs-review", {"benzodiazepine-dose-unknown"}),
    C("midazolam by name only", "iv", [*baseline(), text_medication("Midazolam 7.5 mg tablet")],
      "needs-review", {"benzodiazepine-dose-unknown", "benzodiazepine"}),
    C("gabapentin", "iv", [*baseline(), medication("25480", "gabapentin")], "needs-review",
      {"cns-depressants"}),
    C("pregabalin", "esketamine", [*baseline(), medication("187832", "pregabalin")],
      "needs-review", {"cns-depressants"}),
    C("phenobarbital", "iv", [*baseline(), medication("8134", "phenobarbital")], "needs-review",
      {"cns-depressants"}),
    C("quetiapine", "iv", [*baseline(), medication("51272", "quetiapine")], "needs-review",
      {"cns-depressants"}),
    C("linezolid is an MAO inhibitor", "esketamine", [*baseline(), medication("190376", "linezolid")],
      "needs-review", {"maois"}),
    C("rasagiline", "iv", [*baseline(), medication("134748", "rasagiline")], "needs-review",
      {"maois"}),
    C("selegiline", "iv", [*baseline(), medication("9639", "selegiline")], "needs-review",
      {"maois"}),
    C("lamotrigine is information", "iv", [*baseline(), medication("28439", "lamotrigine")],
      "eligible", {"lamotrigine"}),
    C("naltrexone is information", "esketamine", [*baseline(), medication("7243", "naltrexone")],
      "eligible", {"naltrexone"}),
    # Every finding is shown, even when one already blocks.
    C("an aneurysm does not hide the rest", "iv",
      [*baseline(), condition("I67.1", "Cerebral aneurysm", ICD10),
       condition("59621000", "Hypertension"), medication("4337", "fentanyl")],
      "not-eligible", {"aneurysm", "hypertension", "opioids"}),
    # A record read as it stood on the day.
    C("a pregnancy resolved later counted on a day it was current", "iv",
      [*baseline(), condition("72892002", "Normal pregnancy", status="resolved",
                              onset="2012-07-01", abatement="2013-04-10")],
      "needs-review", {"pregnancy"}, on=date(2013, 3, 1)),
    C("the same pregnancy after it ended", "iv",
      [*baseline(), condition("72892002", "Normal pregnancy", status="resolved",
                              onset="2012-07-01", abatement="2013-04-10")],
      "eligible", on=date(2013, 6, 1)),
    C("a medicine completed later was taken on the day", "iv",
      [*baseline(), medication("4337", "fentanyl", status="completed", start="2026-01-01",
                               end="2026-12-31")], "needs-review", {"opioids"}),
]
CASES = INDICATION_CASES + FINDING_CASES


def _screened(case: Case) -> Any:
    resources = case.resources
    if case.on != ON:  # readings dated for the screening day
        from datetime import UTC, datetime, time

        from tests.fhir_builders import blood_pressure, weight
        at = datetime.combine(case.on, time(10), tzinfo=UTC)
        resources = [r for r in resources if r["resourceType"] != "Observation"] + [
            blood_pressure(122, 78, at=at), weight(72, at=at)]
    return screen(record_from_bundle(bundle(*resources)), route=case.route, on=case.on)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case) -> None:
    result = _screened(case)
    found = {f.rule for f in result.findings}
    assert result.decision == case.decision, [f.as_dict() for f in result.findings]
    assert case.includes <= found, found
    assert not (case.excludes & found), found
    if case.decision == "eligible" and not case.includes:
        assert found == set(), found


def test_the_table_is_large_and_varied() -> None:
    assert len(CASES) >= 80
    assert len(FINDING_CASES) >= 60
    names = " ".join(c.name for c in FINDING_CASES)
    assert names.count("text") >= 20 and "negated" in names and "coded" in names


def test_text_evidence_says_it_was_read_from_text() -> None:
    result = screen(record_from_bundle(bundle(*baseline(), text_condition("Cerebral aneurysm"))),
                    route="iv", on=ON)
    [finding] = [f for f in result.findings if f.rule == "aneurysm"]
    assert "text names 'aneurysm' (no code from a known system)" in finding.evidence[0]


def test_an_observation_finding_names_the_observation_and_its_window() -> None:
    result = screen(record_from_bundle(bundle(
        *baseline(), status_observation("2106-3", text="Positive"))), route="iv", on=ON)
    [finding] = [f for f in result.findings if f.rule == "pregnancy"]
    assert "hCG test: Positive on 2026-11-18" in finding.evidence[0]
    assert "clinic default" in finding.source


def test_a_partial_birth_date_is_shown_as_the_days_it_may_be() -> None:
    result = screen(record_from_bundle(bundle(patient(birth="2008"), *baseline()[1:])),
                    route="iv", on=ON)
    [finding] = [f for f in result.findings if f.rule == "birth-date-partial"]
    assert "may be 17, under 18" in finding.message
    assert finding.evidence[0].endswith("(born between 2008-01-01 and 2008-12-31)")


def test_a_medicine_s_evidence_says_since_when_it_is_taken() -> None:
    """An opioid order 'active' since 2021 is shown with its date: the clinician can tell an
    order never reconciled from a current one."""
    result = screen(record_from_bundle(bundle(
        *baseline(), medication("7804", "oxycodone", start="2021-03-31"))), route="iv", on=ON)
    [finding] = [f for f in result.findings if f.rule == "opioids"]
    assert "(oxycodone, since 2021-03-31; opioid; matched by" in finding.evidence[0]
