"""Clinical vignettes, each a FHIR bundle, covering every screening rule row."""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from ketaclinic.fhir.record import record_from_bundle
from ketaclinic.knowledge.screening import CannotScreen, rules, screen
from tests.fhir_builders import (
    ICD10,
    ON,
    allergy,
    baseline,
    blood_pressure,
    bundle,
    condition,
    medication,
    patient,
    weight,
)


@dataclass
class Vignette:
    """A patient story, the route, and what screening must conclude."""

    name: str
    route: str
    resources: list[dict[str, Any]]
    decision: str
    includes: set[str] = field(default_factory=set)
    excludes: set[str] = field(default_factory=set)
    on: date = ON


V = Vignette
VIGNETTES = [
    V("healthy adult, IV", "iv", baseline(), "eligible"),
    V("healthy adult, esketamine", "esketamine", baseline(), "eligible"),
    V("cerebral aneurysm by ICD-10-CM", "iv",
      [*baseline(), condition("I67.1", "Cerebral aneurysm, nonruptured", ICD10)],
      "not-eligible", {"aneurysm"}),
    V("abdominal aortic aneurysm by SNOMED", "esketamine",
      [*baseline(), condition("233985008", "Abdominal aortic aneurysm")], "not-eligible",
      {"aneurysm"}),
    V("aneurysm coded in a system screening does not know, caught by name", "oral",
      [*baseline(), condition("999999999", "Thoracic aortic aneurysm",
                              "http://clinic.example/local-codes")], "not-eligible",
      {"aneurysm"}),
    V("refuted aneurysm never counts", "iv",
      [*baseline(), condition("I67.1", "Cerebral aneurysm", ICD10, verification="refuted")],
      "eligible", excludes={"aneurysm"}),
    V("cerebral arteriovenous malformation", "im",
      [*baseline(), condition("Q28.2", "Arteriovenous malformation of cerebral vessels", ICD10)],
      "not-eligible", {"arteriovenous-malformation"}),
    V("intracerebral haemorrhage resolved years ago still counts", "esketamine",
      [*baseline(), condition("274100004", "Cerebral hemorrhage", status="resolved",
                              onset="2010-03-01", abatement="2010-06-01")],
      "not-eligible", {"intracranial-haemorrhage"}),
    V("haemorrhage entered in error does not count", "iv",
      [*baseline(), condition("274100004", "Cerebral hemorrhage",
                              verification="entered-in-error")], "eligible"),
    V("ketamine hypersensitivity", "iv", [*baseline(), allergy("6130", "ketamine")],
      "not-eligible", {"ketamine-hypersensitivity"}),
    V("refuted ketamine allergy", "iv",
      [*baseline(), allergy("6130", "ketamine", verification="refuted")], "eligible"),
    V("BP 185/95 with racemic ketamine", "iv", [patient(), blood_pressure(185, 95), weight(70)],
      "not-eligible", {"blood-pressure-hazard", "blood-pressure-elevated"}),
    V("diastolic 112 with IM ketamine", "im", [patient(), blood_pressure(150, 112), weight(70)],
      "not-eligible", {"blood-pressure-hazard"}),
    V("BP 185/95 with esketamine is a caution, not a block", "esketamine",
      [patient(), blood_pressure(185, 95)], "needs-review", {"blood-pressure-elevated"},
      {"blood-pressure-hazard"}),
    V("BP 150/85 at screening", "iv", [patient(), blood_pressure(150, 85), weight(70)],
      "needs-review", {"blood-pressure-elevated"}),
    V("BP exactly 140/90 is not above the limit", "iv",
      [patient(), blood_pressure(140, 90), weight(70)], "eligible"),
    V("the most recent BP wins", "iv",
      [patient(), blood_pressure(170, 100, days_before=10), blood_pressure(124, 80, 1), weight(70)],
      "eligible"),
    V("aged 17", "esketamine", baseline(birth="2009-06-01"), "not-eligible",
      {"age-under-minimum"}),
    V("eighteenth birthday on the screening day", "iv", baseline(birth="2008-11-20"), "eligible"),
    V("aged 70", "esketamine", baseline(birth="1956-01-15"), "needs-review", {"older-adult"}),
    V("theophylline with IV ketamine", "iv", [*baseline(), medication("10438", "theophylline")],
      "not-eligible", {"xanthine-co-administration"}),
    V("theophylline with esketamine does not block", "esketamine",
      [*baseline(), medication("10438", "theophylline")], "eligible"),
    V("coronary artery disease", "iv", [*baseline(), condition("53741008", "Coronary heart disease")],
      "needs-review", {"cardiovascular-disease"}),
    V("heart failure by ICD-10-CM", "esketamine",
      [*baseline(), condition("I50.9", "Heart failure, unspecified", ICD10)], "needs-review",
      {"cardiovascular-disease"}),
    V("cerebral infarction", "iv", [*baseline(), condition("I63.9", "Cerebral infarction", ICD10)],
      "needs-review", {"cerebrovascular-disease"}),
    V("stroke of unknown kind, long resolved", "iv",
      [*baseline(), condition("230690007", "Stroke", status="resolved", abatement="2015-01-01")],
      "needs-review", {"stroke-unknown-kind"}),
    V("hypertension on record", "esketamine", [*baseline(), condition("59621000", "Hypertension")],
      "needs-review", {"hypertension"}),
    V("history of hypertensive encephalopathy", "iv",
      [*baseline(), condition("I67.4", "Hypertensive encephalopathy", ICD10, status="resolved",
                              abatement="2019-05-01")], "needs-review",
      {"hypertensive-encephalopathy"}),
    V("psychosis", "iv", [*baseline(), condition("F29", "Unspecified psychosis", ICD10)],
      "not-eligible", {"active-psychosis"}),
    V("MDD with psychotic features", "esketamine",
      [*baseline(), condition("28475009", "Severe recurrent major depression with psychotic features")],
      "not-eligible", {"active-psychosis"}),
    V("bipolar disorder", "iv", [*baseline(), condition("F31.9", "Bipolar disorder", ICD10)],
      "needs-review", {"bipolar-disorder"}),
    V("alcohol dependence", "iv", [*baseline(), condition("66590003", "Alcohol dependence")],
      "needs-review", {"substance-use-disorder"}),
    V("opioid abuse that abated before the date does not count", "iv",
      [*baseline(), condition("5602001", "Opioid abuse", status="resolved", abatement="2022-01-01")],
      "eligible"),
    V("active pregnancy", "esketamine", [*baseline(), condition("77386006", "Pregnancy")],
      "needs-review", {"pregnancy"}),
    V("pregnancy that ended last year", "iv",
      [*baseline(), condition("72892002", "Normal pregnancy", status="resolved",
                              onset="2025-01-01", abatement="2025-09-30")], "eligible"),
    V("pregnancy abated but status left active", "iv",
      [*baseline(), condition("72892002", "Normal pregnancy", onset="2025-01-01",
                              abatement="2025-09-30")], "eligible"),
    V("breastfeeding", "iv", [*baseline(), condition("Z39.1", "Lactating mother", ICD10)],
      "needs-review", {"breastfeeding"}),
    V("cirrhosis", "oral", [*baseline(), condition("K74.60", "Cirrhosis of liver", ICD10)],
      "needs-review", {"hepatic-impairment"}),
    V("glaucoma", "iv", [*baseline(), condition("H40.9", "Glaucoma", ICD10)], "needs-review",
      {"raised-intracranial-or-intraocular-pressure"}),
    V("past cystitis", "esketamine",
      [*baseline(), condition("N30.00", "Acute cystitis", ICD10, status="resolved",
                              abatement="2021-02-01")], "needs-review", {"cystitis-history"}),
    V("fentanyl patch", "iv", [*baseline(), medication("4337", "fentanyl")], "needs-review",
      {"opioids"}),
    V("opioid product matched by ingredient name", "iv",
      [*baseline(), medication("245134", "72 HR Fentanyl 0.025 MG/HR Transdermal System")],
      "needs-review", {"opioids"}),
    V("zolpidem", "esketamine", [*baseline(), medication("39993", "zolpidem")], "needs-review",
      {"sedative-hypnotics"}),
    V("methylphenidate", "iv", [*baseline(), medication("6901", "methylphenidate")],
      "needs-review", {"psychostimulants"}),
    V("phenelzine product code", "esketamine",
      [*baseline(), medication("312347", "phenelzine 15 MG Oral Tablet")], "needs-review",
      {"maois"}),
    V("clonazepam 1 mg twice a day before IV ketamine", "iv",
      [*baseline(), medication("2598", "clonazepam", dose_mg=1, per_day=2)], "needs-review",
      {"benzodiazepine-load", "benzodiazepine"}),
    V("diazepam 5 mg a day is under the threshold", "iv",
      [*baseline(), medication("3322", "diazepam", dose_mg=5, per_day=1)], "eligible",
      {"benzodiazepine"}, {"benzodiazepine-load"}),
    V("lorazepam with no dose recorded", "iv", [*baseline(), medication("6470", "lorazepam")],
      "needs-review", {"benzodiazepine-dose-unknown"}),
    V("the benzodiazepine load rule applies on every route", "esketamine",
      [*baseline(), medication("2598", "clonazepam", dose_mg=1, per_day=2)], "needs-review",
      {"benzodiazepine", "benzodiazepine-load"}),
    V("ketoconazole with oral ketamine", "oral", [*baseline(), medication("6135", "ketoconazole")],
      "needs-review", {"cyp-modulators"}),
    V("ketoconazole with IV ketamine", "iv", [*baseline(), medication("6135", "ketoconazole")],
      "eligible"),
    V("nasal fluticasone before esketamine", "esketamine",
      [*baseline(), medication("41126", "fluticasone nasal spray")], "eligible",
      {"nasal-steroid-or-decongestant"}),
    V("no blood pressure on record", "esketamine", [patient()], "needs-review",
      {"missing-blood-pressure"}),
    V("a high BP older than the window does not count", "iv",
      [patient(), blood_pressure(200, 120, days_before=40), weight(70)], "needs-review",
      {"missing-blood-pressure"}, {"blood-pressure-hazard"}),
    V("no weight for IV", "iv", [patient(), blood_pressure(120, 80)], "needs-review",
      {"missing-weight"}),
    V("no weight needed for esketamine", "esketamine", [patient(), blood_pressure(120, 80)],
      "eligible"),
    V("fentanyl stopped before the date", "iv",
      [*baseline(), medication("4337", "fentanyl", status="completed", end="2026-01-01")],
      "eligible"),
    V("fentanyl ended before the date though still marked active", "iv",
      [*baseline(), medication("4337", "fentanyl", end="2026-01-01")], "eligible"),
    V("medication starting after the date", "iv",
      [*baseline(), medication("4337", "fentanyl", start="2026-12-01")], "eligible"),
    V("condition with onset after the date", "iv",
      [*baseline(), condition("I67.1", "Cerebral aneurysm", ICD10, onset="2026-12-15")],
      "eligible"),
]


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v.name for v in VIGNETTES])
def test_vignette(vignette: Vignette) -> None:
    result = screen(record_from_bundle(bundle(*vignette.resources)), route=vignette.route, on=ON)
    found = {f.rule for f in result.findings}
    assert result.decision == vignette.decision, [f.as_dict() for f in result.findings]
    assert vignette.includes <= found, found
    assert not (vignette.excludes & found), found
    if vignette.decision == "eligible" and not vignette.includes:
        assert found == set()
    for finding in result.findings:
        assert finding.message and finding.source and finding.evidence


def test_there_are_at_least_forty_vignettes_and_with_the_record_cases_they_cover_every_rule(
) -> None:
    from tests.knowledge.test_reading_the_record import CASES

    assert len(VIGNETTES) >= 40
    covered = set().union(*(v.includes for v in VIGNETTES), *(c.includes for c in CASES))
    assert covered == {r.id for r in rules()}


def test_a_deceased_patient_is_not_screened() -> None:
    record = record_from_bundle(bundle(patient(deceased="2024-01-01"), blood_pressure(120, 80)))
    with pytest.raises(CannotScreen, match="deceased"):
        screen(record, route="iv", on=ON)


def test_findings_carry_evidence_and_sources() -> None:
    result = screen(record_from_bundle(bundle(patient(), blood_pressure(185, 95), weight(70))),
                    route="iv", on=ON)
    hazard = next(f for f in result.findings if f.rule == "blood-pressure-hazard")
    assert "185" in hazard.message and "180/110" in hazard.message
    assert hazard.source.startswith("KETALAR-PI")
    assert hazard.evidence[0].startswith("Observation/bp-")


def test_readings_are_dated_in_the_clinic_s_time_zone() -> None:
    # 02:00 UTC on the 21st is 21:00 on the 20th in New York.
    late_evening = blood_pressure(185, 95) | {"effectiveDateTime": "2026-11-21T02:00:00+00:00"}
    record = record_from_bundle(bundle(patient(), late_evening, weight(70)))
    in_new_york = screen(record, route="iv", on=ON, time_zone="America/New_York")
    assert "blood-pressure-hazard" in {f.rule for f in in_new_york.findings}
    in_utc = screen(record, route="iv", on=ON)
    assert "missing-blood-pressure" in {f.rule for f in in_utc.findings}


def test_a_panel_with_a_systolic_alone_is_quoted_without_a_diastolic_of_0() -> None:
    panel = blood_pressure(186, 95)
    panel["component"] = panel["component"][:1]  # the cuff gave a systolic only
    result = screen(record_from_bundle(bundle(patient(), panel, weight(70))), route="iv", on=ON)
    hazard = next(f for f in result.findings if f.rule == "blood-pressure-hazard")
    assert "Blood pressure 186/\u2013 mmHg on" in hazard.message and "/0 " not in hazard.message
    assert "(186/\u2013 mmHg on" in hazard.evidence[0]
