"""Allergies, problems and medications charted in words: a nurse told "she is allergic to
ketamine" with no code to hand could not chart it (the forms and the API required a code), while
an EHR's entry in words is kept and screened. Screening reads the words of an entry with no
known code (protocol-facts §1), so the chart keeps them the same way from its own forms."""

import html
import uuid

from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.knowledge.screening import screen
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient
from ketaclinic.patients.record import screening_record
from tests import fhir_builders as fb
from tests.conftest import csrf_of

IN_WORDS = {
    "allergies": {"display": "Ketamine", "reaction": "hives", "criticality": "high"},
    "conditions": {"display": "Schizophrenia"},
    "medications": {"display": "Lorazepam 1 MG Oral Tablet", "dose_value": 1,
                    "dose_unit": "tablet", "frequency": "twice a day"},
}


def _found(db: Session, pid: str) -> set[str]:
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    db.refresh(patient)
    return {f.rule for f in screen(screening_record(patient), route="iv", on=fb.ON).findings}


def test_entries_charted_in_words_are_kept_screened_and_read_back_as_valid_fhir(
        api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    assert not {"ketamine-hypersensitivity", "psychotic-disorder"} & _found(db, pid)
    for kind, body in IN_WORDS.items():
        created = api["nurse_a"].post(f"/api/v1/patients/{pid}/{kind}", json=body)
        assert created.status_code == 201, (kind, created.text)
        assert (created.json()["system"], created.json()["code"]) == ("", "")
    assert {"ketamine-hypersensitivity", "psychotic-disorder", "benzodiazepine-load"} <= _found(
        db, pid)
    bundle = api["nurse_a"].get(f"/fhir/Patient/{pid}/$everything").json()
    words = [e["resource"] for e in bundle["entry"]
             if e["resource"]["resourceType"] in ("AllergyIntolerance", "Condition")]
    assert {"Ketamine", "Schizophrenia"} <= {r["code"].get("text") for r in words}
    for resource in words:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_half_a_code_is_refused_naming_the_field_and_nothing_is_stored(
        api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    before = [db.scalar(select(func.count()).select_from(m)) for m in (Allergy, Condition,
                                                                      Medication)]
    for kind, body, field, words in (
            ("conditions", {"system": "snomed", "display": "Schizophrenia"}, "code",
             "is empty for the code system snomed"),
            ("allergies", {"code": "3498", "display": "Ketamine"}, "system",
             "or no system and no code, to record the entry in words"),
            ("medications", {"display": "   "}, "display", "at least 1 character")):
        refused = api["nurse_a"].post(f"/api/v1/patients/{pid}/{kind}", json=body)
        assert refused.status_code == 422, (kind, refused.text)
        problems = refused.json()["errors"]
        assert [p["field"] for p in problems] == [field] and words in refused.text, refused.text
    after = [db.scalar(select(func.count()).select_from(m)) for m in (Allergy, Condition,
                                                                     Medication)]
    assert after == before


def test_the_chart_form_records_an_allergy_in_words(web, world, db: Session) -> None:
    client = web["nurse_a"]
    pid = world.patients["p_a1"]
    chart = client.get(f"/patients/{pid}").text
    assert '<option value="" >No code: in words</option>' in chart
    half = client.post(f"/patients/{pid}/entries/allergies", data={
        "csrf_token": csrf_of(chart), "system": "", "code": "3498", "display": "Ketamine"})
    assert half.status_code == 422 and "record the entry in words" in html.unescape(half.text)
    assert 'value="Ketamine"' in half.text, "what was typed is kept"
    saved = client.post(f"/patients/{pid}/entries/allergies", data={
        "csrf_token": csrf_of(chart), "system": "", "code": "", "display": "Ketamine",
        "reaction": "hives", "criticality": "high"}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    shown = client.get(f"/patients/{pid}").text
    assert "<td>Ketamine</td><td>hives</td>" in shown
    assert "ketamine-hypersensitivity" in _found(db, pid)
