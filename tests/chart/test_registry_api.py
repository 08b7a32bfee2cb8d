"""The patient registry through the JSON API: register, search, edit, chart entries, corrections."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Condition, Medication, Patient, VitalSigns

NEW_PATIENT = {
    "family_name": "Rivera", "given_name": "Jordan", "birth_date": "1979-03-14", "sex": "male",
    "phone": "+1-555-000-1111", "email": "jordan@example.org", "site": "A",
}


def count(db: Session, model: type) -> int:
    return db.execute(select(func.count()).select_from(model)).scalar_one()


def test_register_then_read_and_search(api, db: Session) -> None:
    created = api["frontdesk"].post("/api/v1/patients", json=NEW_PATIENT)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["mrns"][0]["site"] == "A" and body["mrns"][0]["mrn"].startswith("A")
    read = api["nurse_a"].get(f"/api/v1/patients/{body['id']}")
    assert read.json()["family_name"] == "Rivera"
    found = api["nurse_a"].get("/api/v1/patients", params={"q": "rivera jor"}).json()
    assert [p["id"] for p in found] == [body["id"]]
    by_mrn = api["nurse_a"].get("/api/v1/patients", params={"q": body["mrns"][0]["mrn"]}).json()
    assert [p["id"] for p in by_mrn] == [body["id"]]
    by_birth = api["nurse_a"].get("/api/v1/patients", params={"birth_date": "1979-03-14"}).json()
    assert body["id"] in [p["id"] for p in by_birth]


def test_edit_demographics_is_audited(api, db: Session, world) -> None:
    pid = world.patients["p_a2"]
    response = api["frontdesk"].patch(f"/api/v1/patients/{pid}", json={"phone": "+1-617-555-0199"})
    assert response.status_code == 200 and response.json()["phone"] == "+16175550199"
    last = db.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    assert (last.action, last.patient_id, last.detail) == ("update", pid, "changed: phone")


def test_chart_entries_and_entered_in_error(api, db: Session, world) -> None:
    pid = world.patients["p_a1"]
    nurse = api["nurse_a"]
    med = nurse.post(f"/api/v1/patients/{pid}/medications", json={
        "system": "rxnorm", "code": "6470", "display": "lorazepam", "dose_value": 1,
        "dose_unit": "mg", "frequency": "twice daily", "start_date": "2025-01-01"})
    assert med.status_code == 201, med.text
    assert med.json()["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
    allergy = nurse.post(f"/api/v1/patients/{pid}/allergies", json={
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "3322",
        "display": "diazepam", "reaction": "rash"})
    assert allergy.status_code == 201, allergy.text
    vitals = nurse.post(f"/api/v1/patients/{pid}/vitals", json={
        "systolic_mmhg": 131, "diastolic_mmhg": 84, "spo2_pct": 98})
    assert vitals.status_code == 201, vitals.text
    med_id = med.json()["id"]
    fixed = nurse.post(f"/api/v1/patients/{pid}/medications/{med_id}/entered-in-error",
                       json={"reason": "wrong patient"})
    assert fixed.status_code == 200
    assert fixed.json()["status"] == "entered-in-error"
    assert fixed.json()["error_marked_by"] == "nurse_a"
    again = nurse.post(f"/api/v1/patients/{pid}/medications/{med_id}/entered-in-error",
                       json={"reason": "twice"})
    assert again.status_code == 409
    listed = nurse.get(f"/api/v1/patients/{pid}/medications").json()
    assert [m["id"] for m in listed] == [med_id], "the corrected row is kept, not deleted"


BAD_INPUTS = [
    # Dates relative to the test's clock are worked out when the test runs, not at collection.
    ("patients", lambda: {**NEW_PATIENT, "birth_date": str(clock.now().date() + timedelta(days=2))},
     "birth_date", "today"),
    ("patients", {k: v for k, v in NEW_PATIENT.items() if k != "family_name"},
     "family_name", ""),
    ("patients", {**NEW_PATIENT, "sex": "x"}, "sex", "'female', 'male', 'other' or 'unknown'"),
    ("vitals", {"weight_kg": 400}, "weight_kg", "20 to 350 kg"),
    ("vitals", {"weight_kg": 19.9}, "weight_kg", "20 to 350 kg"),
    ("vitals", {"systolic_mmhg": 350, "diastolic_mmhg": 80}, "systolic_mmhg", "40 to 300 mmHg"),
    ("vitals", {"systolic_mmhg": 39}, "systolic_mmhg", "40 to 300 mmHg"),
    ("vitals", {}, "vitals", "weight_kg"),
    ("conditions", {"system": "http://example.org/made-up", "code": "1", "display": "x"},
     "system", "snomed"),
    ("conditions", {"system": "snomed", "display": "no code"}, "code", ""),
    ("medications", {"system": "icd10cm", "code": "F33.2", "display": "not a drug"},
     "system", "rxnorm"),
]


@pytest.mark.parametrize(("target", "payload", "field", "accepted"), BAD_INPUTS)
def test_bad_input_gives_problem_json_and_stores_nothing(
    api, db: Session, world, target: str, payload: Any, field: str, accepted: str
) -> None:
    payload = payload() if callable(payload) else payload
    client = api["frontdesk"] if target == "patients" else api["nurse_a"]
    url = ("/api/v1/patients" if target == "patients"
           else f"/api/v1/patients/{world.patients['p_a1']}/{target}")
    before = {m: count(db, m) for m in (Patient, VitalSigns, Condition, Medication)}
    response = client.post(url, json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] == "Invalid input"
    named = [e for e in problem["errors"] if e["field"] == field]
    assert named, problem
    assert accepted in named[0]["accepted"] + named[0]["message"]
    assert {m: count(db, m) for m in before} == before


def test_edit_with_future_birth_date_changes_nothing(api, db: Session, world) -> None:
    pid = world.patients["p_a2"]
    future = (clock.now().date() + timedelta(days=3)).isoformat()
    response = api["frontdesk"].patch(f"/api/v1/patients/{pid}", json={"birth_date": future})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "birth_date"
    assert api["frontdesk"].get(f"/api/v1/patients/{pid}").json()["birth_date"] == "1980-05-17"


def test_register_refuses_a_site_that_is_not_yours(api, db: Session) -> None:
    response = api["frontdesk"].post("/api/v1/patients", json={**NEW_PATIENT, "site": "B"})
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "site", "message": "'B' is not one of your sites", "accepted": "A"}


def test_duplicate_mrn_is_a_conflict(api, db: Session) -> None:
    first = api["frontdesk"].post("/api/v1/patients", json={**NEW_PATIENT, "mrn": "X-1"})
    assert first.status_code == 201
    second = api["frontdesk"].post("/api/v1/patients", json={**NEW_PATIENT, "mrn": "X-1"})
    assert second.status_code == 409 and "X-1" in second.json()["detail"]


def test_control_characters_and_ancient_dates_are_refused(api, db: Session, world) -> None:
    before = count(db, Patient)
    nul = api["frontdesk"].post("/api/v1/patients", json={**NEW_PATIENT, "family_name": "Ri\x00va"})
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "family_name"
    assert count(db, Patient) == before
    pid = world.patients["p_a1"]
    ancient = api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={
        "heart_rate_bpm": 70, "measured_at": "0001-01-01T00:00:00+05:00"})
    assert ancient.status_code == 422 and ancient.json()["errors"][0]["field"] == "measured_at"
    naive = api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={
        "heart_rate_bpm": 70, "measured_at": "2026-01-01T10:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["detail"]
    search = api["nurse_a"].get("/api/v1/patients", params={"q": "a\x00b"})
    assert search.status_code == 200
    login = api["nurse_a"].post("/api/v1/auth/token", data={"username": "nu\x00rse", "password": "x"})
    assert login.status_code == 401


@pytest.mark.parametrize("table", ["patient", "condition", "medication", "allergy", "vital_signs"])
def test_database_refuses_to_delete_clinical_rows(api, world, db: Session, table: str) -> None:
    pid = world.patients["p_a1"]
    api["nurse_a"].post(f"/api/v1/patients/{pid}/medications",
                        json={"system": "rxnorm", "code": "596", "display": "alprazolam"})
    api["nurse_a"].post(f"/api/v1/patients/{pid}/allergies",
                        json={"system": "rxnorm", "code": "3322", "display": "diazepam"})
    assert db.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() > 0
    with pytest.raises(DatabaseError, match="never deleted"), db.begin_nested():
        db.execute(text(f"DELETE FROM {table}"))


def test_huge_paging_numbers_are_refused_not_crashed(api, db: Session) -> None:
    response = api["nurse_a"].get("/api/v1/patients",
                                  params={"limit": 1, "offset": 9223372036854775808})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "offset"


def test_a_page_of_patients_with_several_mrns_holds_each_patient_once(db: Session) -> None:
    # MRNs are joined into the page's query: the limit counts patients, not MRN rows
    from ketaclinic.clinics.models import Site
    from ketaclinic.kernel.actor import Actor
    from ketaclinic.patients import service as patients
    from ketaclinic.patients.models import PatientMrn

    sites = db.execute(select(Site).order_by(Site.pk)).scalars().all()[:2]
    for number in range(5):
        patient = Patient(family_name=f"Pager{number}", given_name="Two", sex="female",
                          birth_date=clock.now().date() - timedelta(days=9000),
                          search_name=f"pager{number} two")
        patient.mrns = [PatientMrn(site_pk=site.pk, mrn=f"PG{number}-{site.pk}")
                        for site in sites]
        db.add(patient)
    db.flush()
    actor = Actor(username="pager", role="frontdesk",
                  site_pks=frozenset(site.pk for site in sites))
    seen = []
    for offset in range(0, 6, 2):
        # one shape for every page: the later pages run the statement the first one kept
        page, total = patients.find(db=db, actor=actor, conditions=[
            Patient.family_name.like(bindparam("v0"))], values={"v0": "Pager%"}, limit=2,
            offset=offset, described="test", columns=patients.DEMOGRAPHIC_COLUMNS,
            shape=("a test's family name",))
        assert total == 5
        assert len(page) == min(2, 5 - offset)
        assert all(len(rows) == 2 for rows in page)  # a row per MRN
        seen += [rows[0].family_name for rows in page]
    assert seen == [f"Pager{n}" for n in range(5)]


def test_the_demographics_read_shows_what_the_loaded_record_shows(db: Session) -> None:
    # The audited read is one query of columns; it answers as the record loaded with its MRNs.
    from ketaclinic.clinics.models import Site
    from ketaclinic.errors import OutOfReach
    from ketaclinic.kernel.actor import Actor
    from ketaclinic.patients import service as patients
    from ketaclinic.patients.models import PatientMrn

    first, second = db.execute(select(Site).order_by(Site.pk)).scalars().all()[:2]
    patient = Patient(family_name="Okafor", given_name="Ada", sex="female", phone="+1-555-0101",
                      birth_date=clock.now().date() - timedelta(days=12000),
                      search_name="okafor ada", address="1 Chair Lane")
    patient.mrns = [PatientMrn(site_pk=second.pk, mrn="S2-9"), PatientMrn(site_pk=first.pk,
                                                                          mrn="S1-3")]
    bare = Patient(family_name="Nomrn", given_name="Ben", sex="male", search_name="nomrn ben",
                   birth_date=clock.now().date() - timedelta(days=9000))
    db.add_all([patient, bare])
    db.flush()
    db.refresh(patient)
    actor = Actor(username="reader", role="nurse", site_pks=frozenset({first.pk}))
    shown = patients.open_demographics(db=db, patient_id=str(patient.id), actor=actor,
                                       purpose="test")
    assert shown == patients.Demographics.of(patient)
    assert shown.mrns == [(second.code, "S2-9"), (first.code, "S1-3")]
    elsewhere = Actor(username="other", role="nurse", site_pks=frozenset({-1}))
    for actor_, asked in ((elsewhere, str(patient.id)), (actor, "not-a-uuid"),
                          (actor, str(bare.id))):
        with pytest.raises(OutOfReach):
            patients.open_demographics(db=db, patient_id=asked, actor=actor_, purpose="test")
