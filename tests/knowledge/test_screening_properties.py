"""Properties of screening that must hold for any record."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ketaclinic.fhir.bundle import BundleError, validate_r4
from ketaclinic.fhir.record import record_from_bundle
from ketaclinic.knowledge.record import (
    AllergyFact,
    BloodPressure,
    Coding,
    ConditionFact,
    MedicationFact,
    PatientRecord,
    Weight,
)
from ketaclinic.knowledge.screening import ROUTES, CannotScreen, screen

SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ON = date(2026, 11, 20)

CONDITION_CODES = [
    (SNOMED, "36474008", "Major depressive disorder, recurrent severe"),
    (SNOMED, "21897009", "Generalized anxiety disorder"),
    (SNOMED, "203082005", "Fibromyalgia"), (SNOMED, "59621000", "Hypertension"),
    (SNOMED, "53741008", "Coronary heart disease"), (SNOMED, "230690007", "Stroke"),
    (SNOMED, "72892002", "Normal pregnancy"), (SNOMED, "5602001", "Opioid abuse"),
    (ICD10, "I67.1", "Cerebral aneurysm"), (ICD10, "F31.9", "Bipolar disorder"),
    (SNOMED, "274100004", "Cerebral hemorrhage"), (ICD10, "K74.60", "Cirrhosis"),
    (SNOMED, "444814009", "Viral sinusitis"),
]
MEDICATION_CODES = [("2598", "clonazepam"), ("4337", "fentanyl"), ("10438", "theophylline"),
                    ("6901", "methylphenidate"), ("36437", "sertraline"), ("41126", "fluticasone"),
                    ("6135", "ketoconazole"), ("3322", "diazepam")]
days = st.integers(min_value=0, max_value=4000).map(lambda n: ON - timedelta(days=n))
maybe_day = st.one_of(st.none(), days)


@st.composite
def conditions(draw: st.DrawFn) -> ConditionFact:
    system, code, display = draw(st.sampled_from(CONDITION_CODES))
    return ConditionFact(
        ref=f"Condition/{draw(st.uuids())}", codings=(Coding(system, code, display),),
        text=display, clinical_status=draw(st.sampled_from([None, "active", "resolved", "inactive",
                                                            "remission", "recurrence"])),
        verification_status=draw(st.sampled_from([None, "confirmed", "refuted", "unconfirmed",
                                                  "entered-in-error"])),
        onset=draw(maybe_day), abatement=draw(maybe_day))


@st.composite
def medications(draw: st.DrawFn) -> MedicationFact:
    code, display = draw(st.sampled_from(MEDICATION_CODES))
    return MedicationFact(
        ref=f"MedicationStatement/{draw(st.uuids())}", codings=(Coding(RXNORM, code, display),),
        text=display, status=draw(st.sampled_from([None, "active", "completed", "stopped",
                                                   "on-hold", "entered-in-error"])),
        start=draw(maybe_day), end=draw(maybe_day),
        daily_dose_mg=draw(st.one_of(st.none(), st.floats(0.1, 40))))


def moments() -> st.SearchStrategy[datetime]:
    return st.integers(0, 60).map(
        lambda n: datetime.combine(ON - timedelta(days=n), time(9), tzinfo=UTC))


@st.composite
def records(draw: st.DrawFn) -> PatientRecord:
    bps = draw(st.lists(st.builds(BloodPressure, st.uuids().map(lambda u: f"Observation/{u}"),
                                  moments(), st.floats(60, 230), st.floats(30, 140)), max_size=4))
    weights = draw(st.lists(st.builds(Weight, st.uuids().map(lambda u: f"Observation/{u}"),
                                      moments(), st.floats(35, 180)), max_size=3))
    allergies = draw(st.lists(st.builds(
        AllergyFact, st.uuids().map(lambda u: f"AllergyIntolerance/{u}"),
        st.sampled_from([(Coding(RXNORM, "6130", "ketamine"),), (Coding(RXNORM, "7980", "penicillin"),)]),
        st.just(""), st.sampled_from([None, "active", "inactive"]),
        st.sampled_from([None, "confirmed", "refuted"])), max_size=2))
    return PatientRecord(
        ref="Patient/p", birth_date=draw(st.dates(date(1920, 1, 1), date(2015, 1, 1))),
        conditions=tuple(draw(st.lists(conditions(), max_size=6))),
        medications=tuple(draw(st.lists(medications(), max_size=5))),
        allergies=tuple(allergies), blood_pressures=tuple(bps), weights=tuple(weights))


def contraindication_for(route: str) -> st.SearchStrategy[tuple[str, object]]:
    fresh_day = ON - timedelta(days=30)
    options: list[tuple[str, object]] = [
        ("condition", ConditionFact("Condition/x", (Coding(ICD10, "I67.1", "Cerebral aneurysm"),),
                                    clinical_status="active", onset=fresh_day)),
        ("condition", ConditionFact("Condition/y", (Coding(ICD10, "Q28.2", "AVM"),))),
        ("condition", ConditionFact("Condition/z", (Coding(SNOMED, "274100004", "ICH"),),
                                    clinical_status="resolved", abatement=fresh_day)),
        ("allergy", AllergyFact("AllergyIntolerance/k", (Coding(RXNORM, "2201623", "esketamine"),))),
        ("age", date(ON.year - 16, 1, 1)),
    ]
    if route != "esketamine":
        options += [
            ("medication", MedicationFact("MedicationStatement/t",
                                          (Coding(RXNORM, "10438", "theophylline"),), status="active")),
            ("bp", BloodPressure("Observation/hot", datetime.combine(ON, time(23, 59), tzinfo=UTC),
                                 192, 96)),
        ]
    return st.sampled_from(options)


def with_addition(record: PatientRecord, kind: str, item: object) -> PatientRecord:
    if kind == "condition":
        return replace(record, conditions=(*record.conditions, item))  # type: ignore[arg-type]
    if kind == "allergy":
        return replace(record, allergies=(*record.allergies, item))  # type: ignore[arg-type]
    if kind == "medication":
        return replace(record, medications=(*record.medications, item))  # type: ignore[arg-type]
    if kind == "bp":
        return replace(record, blood_pressures=(*record.blood_pressures, item))  # type: ignore[arg-type]
    return replace(record, birth_date=item)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ROUTES), st.data())
def test_adding_a_contraindication_never_yields_eligible(route: str, data: st.DataObject) -> None:
    record = data.draw(records())
    kind, item = data.draw(contraindication_for(route))
    result = screen(with_addition(record, kind, item), route=route, on=ON)
    assert result.decision == "not-eligible"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ROUTES), records())
def test_removing_every_finding_yields_eligible(route: str, record: PatientRecord) -> None:
    cited = {e.split(" ")[0] for f in screen(record, route=route, on=ON).findings for e in f.evidence}
    now = datetime.combine(ON, time(8), tzinfo=UTC)
    cleaned = replace(
        record,
        birth_date=date(ON.year - 40, 1, 1),
        conditions=tuple(c for c in record.conditions if c.ref not in cited),
        medications=tuple(m for m in record.medications if m.ref not in cited),
        allergies=tuple(a for a in record.allergies if a.ref not in cited),
        blood_pressures=(BloodPressure("Observation/ok", now, 118, 76),),
        weights=(Weight("Observation/w", now, 70),),
    )
    result = screen(cleaned, route=route, on=ON)
    assert (result.decision, result.findings) == ("eligible", ())


# --- any bundle the FHIR R4 schema accepts ---

fhir_dates = st.one_of(st.dates(date(1900, 1, 1), date(2030, 12, 31)).map(date.isoformat),
                       st.integers(1900, 2030).map(str),
                       st.datetimes(datetime(1950, 1, 1), datetime(2030, 1, 1),
                                    timezones=st.just(UTC)).map(lambda d: d.isoformat()))
codings = st.builds(lambda s, c, d: {"system": s, "code": c, "display": d},
                    st.sampled_from([SNOMED, ICD10, RXNORM, "http://loinc.org", "urn:x"]),
                    st.from_regex(r"[A-Za-z0-9.\-]{1,10}", fullmatch=True), st.text(max_size=20))
concept = st.fixed_dictionaries({}, optional={"coding": st.lists(codings, max_size=2),
                                              "text": st.text(min_size=1, max_size=20)})
quantity = st.fixed_dictionaries({"value": st.floats(-1e6, 1e6, allow_nan=False)},
                                 optional={"unit": st.sampled_from(["mg", "kg", "[lb_av]", "mm[Hg]"])})
status_concept = lambda codes: st.builds(  # noqa: E731
    lambda c: {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/x", "code": c}]},
    st.sampled_from(codes))
condition_r = st.fixed_dictionaries(
    {"resourceType": st.just("Condition"), "subject": st.just({"reference": "Patient/p"})},
    optional={"code": concept, "onsetDateTime": fhir_dates, "abatementDateTime": fhir_dates,
              "clinicalStatus": status_concept(["active", "resolved", "inactive", "relapse"]),
              "verificationStatus": status_concept(["confirmed", "refuted", "entered-in-error"])})
med_r = st.fixed_dictionaries(
    {"resourceType": st.just("MedicationStatement"), "subject": st.just({"reference": "Patient/p"}),
     "status": st.sampled_from(["active", "completed", "stopped", "on-hold", "entered-in-error",
                                "unknown", "intended", "not-taken"]),
     "medicationCodeableConcept": concept},
    optional={"effectivePeriod": st.fixed_dictionaries({}, optional={"start": fhir_dates,
                                                                      "end": fhir_dates}),
              "dosage": st.lists(st.fixed_dictionaries({}, optional={
                  "text": st.text(max_size=20),
                  "doseAndRate": st.lists(st.fixed_dictionaries({}, optional={
                      "doseQuantity": quantity}), max_size=1)}), max_size=1)})
obs_r = st.fixed_dictionaries(
    {"resourceType": st.just("Observation"), "status": st.sampled_from(["final", "amended",
                                                                       "entered-in-error"]),
     "code": st.sampled_from([{"coding": [{"system": "http://loinc.org", "code": c}]}
                              for c in ("85354-9", "8480-6", "8462-4", "29463-7", "8867-4")])},
    optional={"effectiveDateTime": fhir_dates, "valueQuantity": quantity,
              "component": st.lists(st.fixed_dictionaries(
                  {"code": st.sampled_from([{"coding": [{"system": "http://loinc.org", "code": c}]}
                                            for c in ("8480-6", "8462-4")])},
                  optional={"valueQuantity": quantity}), max_size=2)})
allergy_r = st.fixed_dictionaries(
    {"resourceType": st.just("AllergyIntolerance"), "patient": st.just({"reference": "Patient/p"})},
    optional={"code": concept})
patient_r = st.fixed_dictionaries(
    {"resourceType": st.just("Patient"), "id": st.just("p")},
    optional={"birthDate": st.dates(date(1900, 1, 1), date(2026, 1, 1)).map(date.isoformat),
              "deceasedBoolean": st.booleans()})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(patient_r, min_size=0, max_size=2),
       st.lists(st.one_of(condition_r, med_r, obs_r, allergy_r), max_size=6),
       st.sampled_from(["collection", "transaction", "searchset"]))
def test_screening_never_crashes_on_a_valid_r4_bundle(patients, others, kind) -> None:
    entries = [{"fullUrl": f"urn:uuid:00000000-0000-0000-0000-{i:012d}", "resource": r}
               for i, r in enumerate(patients + others)]
    if kind == "transaction":
        for entry in entries:
            entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}
    data = {"resourceType": "Bundle", "type": kind, "entry": entries}
    try:
        validate_r4(data)
    except BundleError:
        assume(False)
    try:
        record = record_from_bundle(data)
    except BundleError as exc:
        assert "Patient" in str(exc)
        return
    for route in ROUTES:
        try:
            result = screen(record, route=route, on=ON)
        except CannotScreen:
            assert record.deceased
            continue
        assert result.decision in ("eligible", "needs-review", "not-eligible")


@pytest.mark.parametrize(("text", "expected"), [
    ("twice daily", 2), ("BID", 2), ("three times a day", 3), ("every 8 hours", 3),
    ("once daily at bedtime", 1), ("daily", 1), ("q6h", 4), ("4 times per day", 4),
    ("as needed", None), ("", None), ("weekly", 1 / 7),
])
def test_frequency_text(text: str, expected: float | None) -> None:
    from ketaclinic.knowledge.frequency import times_per_day

    assert times_per_day(text) == expected
