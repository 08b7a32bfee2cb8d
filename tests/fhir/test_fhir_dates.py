"""A FHIR date without a time (`2026-10-15`), or a time without a zone, is read on the clinic's
clock: the patient's site's midnight, not midnight in London, which in the Americas is the
evening before. A date that cannot be read is refused naming the field, never stored as now."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.fhir.record import parse_datetime, record_from_bundle
from ketaclinic.measures.models import Measure
from ketaclinic.patients.models import VitalSigns
from tests import fhir_builders as fb
from tests.fhir.test_fhir_api import phq9_response

LOINC = "http://loinc.org"


def _heart_rate(pid: str, when: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
            "effectiveDateTime": when, "valueQuantity": {"value": 72}}


@pytest.mark.parametrize(("text", "zone", "moment"), [
    ("2026-10-15", "America/New_York", datetime(2026, 10, 15, 4, tzinfo=UTC)),
    ("2026-01-15", "America/New_York", datetime(2026, 1, 15, 5, tzinfo=UTC)),
    ("2026-10", "America/Los_Angeles", datetime(2026, 10, 1, 7, tzinfo=UTC)),
    ("2026", "America/New_York", datetime(2026, 1, 1, 5, tzinfo=UTC)),
    ("2026-10-15T09:30:00", "America/New_York", datetime(2026, 10, 15, 13, 30, tzinfo=UTC)),
    ("2026-10-15T09:30:00-07:00", "America/New_York", datetime(2026, 10, 15, 16, 30, tzinfo=UTC)),
    ("2026-10-15T09:30:00Z", "America/New_York", datetime(2026, 10, 15, 9, 30, tzinfo=UTC)),
    ("2026-10-15", "UTC", datetime(2026, 10, 15, tzinfo=UTC)),
])
def test_a_date_or_a_time_without_a_zone_is_read_on_the_clinics_clock(
        text: str, zone: str, moment: datetime) -> None:
    assert parse_datetime(text, zone) == moment


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "15/10/2026", "", "2026-10-15T25:00"])
def test_what_is_not_a_fhir_date_is_not_read(text: str) -> None:
    assert parse_datetime(text, "America/New_York") is None


def test_a_vital_sign_dated_without_a_time_is_stored_at_the_sites_midnight(
        api, world, db: Session) -> None:
    created = api["nurse_a"].post("/fhir/Observation",
                                  json=_heart_rate(world.patients["p_a1"], "2026-10-15"))
    assert created.status_code == 201, created.text
    assert created.json()["effectiveDateTime"].startswith("2026-10-15T04:00:00")
    stored = db.execute(select(VitalSigns.measured_at).where(
        VitalSigns.heart_rate_bpm == 72).order_by(VitalSigns.pk.desc()).limit(1)).scalar_one()
    assert stored.replace(tzinfo=UTC) == datetime(2026, 10, 15, 4, tzinfo=UTC)


def test_a_date_is_read_on_the_patients_own_sites_clock(api, world) -> None:
    created = api["nurse_b"].post("/fhir/Observation",
                                  json=_heart_rate(world.patients["p_b1"], "2026-10-15"))
    assert created.status_code == 201, created.text
    assert created.json()["effectiveDateTime"].startswith("2026-10-15T07:00:00")  # Los Angeles


def test_a_time_without_its_zone_is_refused_naming_the_element_and_the_formats(
        api, world, db: Session) -> None:
    before = db.execute(select(func.count()).select_from(VitalSigns)).scalar_one()
    refused = api["nurse_a"].post("/fhir/Observation",
                                  json=_heart_rate(world.patients["p_a1"], "2026-10-15T09:30:00"))
    assert refused.status_code == 422, refused.text
    [issue] = refused.json()["issue"]
    assert issue["expression"] == ["entry[0].effectiveDateTime"]
    assert "'2026-10-15T09:30:00' is not a FHIR DateTime" in issue["diagnostics"]
    assert "with its zone (Z or +hh:mm)" in issue["diagnostics"]
    assert db.execute(select(func.count()).select_from(VitalSigns)).scalar_one() == before


def test_a_questionnaire_authored_on_a_date_is_taken_at_the_sites_midnight(api, world) -> None:
    pid = world.patients["p_a1"]
    response = phq9_response(pid, [1] * 9) | {"authored": "2026-10-15"}
    created = api["nurse_a"].post("/fhir/QuestionnaireResponse", json=response)
    assert created.status_code == 201, created.text
    authored = datetime.fromisoformat(created.json()["authored"])
    assert authored == datetime(2026, 10, 15, 4, tzinfo=UTC)


def test_a_questionnaire_is_dated_on_its_patient_s_site_s_clock(api, world) -> None:
    """A prescriber of both sites, New York first, posts a Los Angeles patient's form dated the
    15th: it is the 15th in Los Angeles."""
    response = phq9_response(world.patients["p_b1"], [1] * 9) | {"authored": "2026-10-15"}
    created = api["prescriber"].post("/fhir/QuestionnaireResponse", json=response)
    assert created.status_code == 201, created.text
    authored = datetime.fromisoformat(created.json()["authored"])
    assert authored == datetime(2026, 10, 15, 7, tzinfo=UTC)


def test_a_questionnaire_authored_on_an_unreadable_date_is_refused(
        api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    before = db.execute(select(func.count()).select_from(Measure)).scalar_one()
    refused = api["nurse_a"].post("/fhir/QuestionnaireResponse",
                                  json=phq9_response(pid, [1] * 9) | {"authored": "yesterday"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["issue"][0]["expression"] == ["authored"]
    assert "YYYY-MM-DD" in refused.text
    assert db.execute(select(func.count()).select_from(Measure)).scalar_one() == before


def test_screening_reads_a_dated_weight_on_the_clinics_clock() -> None:
    dated = fb.weight(70)
    dated["effectiveDateTime"] = "2026-10-15"
    record = record_from_bundle(fb.bundle(fb.patient(), dated), "America/New_York")
    assert [w.taken for w in record.weights] == [datetime(2026, 10, 15, 4, tzinfo=UTC)]


def _found(api, user: str, resource: str, **params: str) -> set[str]:
    answer = api[user].get(f"/fhir/{resource}", params=params)
    assert answer.status_code == 200, answer.text
    return {e["resource"]["id"] for e in answer.json().get("entry", [])}


def test_a_day_searched_for_is_the_clinic_s_day(api, world) -> None:
    """A pulse taken at 21:30 on the 15th in New York is 01:30 on the 16th in UTC: a search for
    the 15th missed it and found the evening of the 14th instead."""
    pid = world.patients["p_a1"]
    evening = api["nurse_a"].post("/fhir/Observation", json=_heart_rate(
        pid, "2026-10-15T21:30:00-04:00")).json()["id"]
    night_before = api["nurse_a"].post("/fhir/Observation", json=_heart_rate(
        pid, "2026-10-14T21:30:00-04:00")).json()["id"]
    on_the_15th = _found(api, "nurse_a", "Observation", patient=pid, date="2026-10-15")
    assert evening in on_the_15th and night_before not in on_the_15th
    assert evening in _found(api, "nurse_a", "Observation", patient=pid, date="ge2026-10-15")
    assert night_before in _found(api, "nurse_a", "Observation", patient=pid, date="lt2026-10-15")
    assert evening in _found(api, "nurse_a", "Observation", patient=pid, date="2026-10")


def test_a_dated_record_is_found_on_its_own_day(api, world) -> None:
    """A condition that began on a date (no time, no zone) is found by a search for that date:
    both are the clinic's day."""
    pid = world.patients["p_a1"]
    condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"},
                 "clinicalStatus": {"coding": [{
                     "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                     "code": "active"}]},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003",
                                      "display": "Hypertension"}]},
                 "onsetDateTime": "2026-10-15"}
    created = api["nurse_a"].post("/fhir/Condition", json=condition)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    for day, found in (("2026-10-15", True), ("2026-10-14", False), ("ge2026-10-15", True),
                       ("lt2026-10-15", False)):
        assert (cid in _found(api, "nurse_a", "Condition", patient=pid,
                              **{"onset-date": day})) == found, day


def test_a_patient_born_in_a_year_alone_is_refused_naming_the_birth_date(api, db: Session) -> None:
    from ketaclinic.patients.models import Patient

    before = db.execute(select(func.count()).select_from(Patient)).scalar_one()
    refused = api["nurse_a"].post("/fhir/Patient", json={
        "resourceType": "Patient", "name": [{"family": "Doe", "given": ["Jo"]}],
        "gender": "female", "birthDate": "2008"})
    assert refused.status_code == 422, refused.text
    [issue] = refused.json()["issue"]
    assert issue["expression"] == ["Patient.birthDate"]
    assert "'2008' gives no day" in issue["diagnostics"] and "YYYY-MM-DD" in issue["diagnostics"]
    assert db.execute(select(func.count()).select_from(Patient)).scalar_one() == before


@pytest.mark.parametrize(("value", "first_day", "hours"), [
    ("2026", "2026-01-01", 8760), ("2026-02", "2026-02-01", 672),
    ("2026-10-15", "2026-10-15", 24),
    ("2026-11-01", "2026-11-01", 25),  # New York's clocks go back: the day is 25 hours long
    ("2026-03-08", "2026-03-08", 23),
    ("2026-10-15T23:30:00-04:00", "2026-10-15", 1 / 3600)])
def test_a_partial_date_spans_its_year_month_or_day_on_the_clinic_s_clock(
        value: str, first_day: str, hours: float) -> None:
    from zoneinfo import ZoneInfo

    from ketaclinic.fhir.dates import span_of

    start, end = span_of(value, "America/New_York")
    elapsed = end.astimezone(UTC) - start.astimezone(UTC)  # same-zone subtraction is wall time
    assert elapsed.total_seconds() / 3600 == pytest.approx(hours)
    assert start.astimezone(ZoneInfo("America/New_York")).date().isoformat() == first_day


@pytest.mark.parametrize("value", ["2026-13", "20x6", "2026-10-15T09:30", "15/10/2026", ""])
def test_what_is_not_a_fhir_date_or_a_time_with_its_zone_is_refused(value: str) -> None:
    from ketaclinic.fhir.dates import span_of

    with pytest.raises(ValueError):
        span_of(value, "UTC", time_needs_zone=True)
