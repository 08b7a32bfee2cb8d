"""A real FHIR client (fhirpy) against the running server: search, read with a date range, page,
and post a PHQ-9 QuestionnaireResponse that becomes a scored measure."""

from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest
from fhirpy import SyncFHIRClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.db import make_engine
from ketaclinic.demo.seed import DEMO_PASSWORD
from ketaclinic.patients.models import Patient, PatientMrn, VitalSigns

pytestmark = pytest.mark.e2e


def patient_with_most_pressures(database_url: str) -> tuple[str, str, list[datetime]]:
    engine = make_engine(database_url)
    with Session(engine) as db:
        pk = db.execute(select(VitalSigns.patient_pk).join(
            PatientMrn, PatientMrn.patient_pk == VitalSigns.patient_pk).where(
            VitalSigns.systolic_mmhg.is_not(None), PatientMrn.mrn.startswith("HPC")).group_by(
            VitalSigns.patient_pk).order_by(func.count().desc()).limit(1)).scalar_one()
        patient = db.execute(select(Patient).where(Patient.pk == pk)).scalar_one()
        taken = list(db.execute(select(VitalSigns.measured_at).where(
            VitalSigns.patient_pk == pk, VitalSigns.systolic_mmhg.is_not(None),
            VitalSigns.status == "final")).scalars())
        found = (str(patient.id), patient.family_name, taken)
    engine.dispose()
    return found


def test_fhirpy_search_read_page_and_post_a_phq9(demo_server: str, demo_database: str) -> None:
    token = httpx.post(f"{demo_server}/api/v1/auth/token", data={
        "username": "nurse", "password": DEMO_PASSWORD}).json()["access_token"]
    client = SyncFHIRClient(f"{demo_server}/fhir", authorization=f"Bearer {token}")
    patient_id, family, taken = patient_with_most_pressures(demo_database)

    found = client.resources("Patient").search(name=family).fetch()
    assert patient_id in [p.id for p in found]

    since = sorted(taken)[len(taken) // 2]
    expected = sum(1 for t in taken if t.astimezone(UTC).date() >= since.astimezone(UTC).date())
    pressures = (client.resources("Observation")
                 .search(patient=f"Patient/{patient_id}", code="http://loinc.org|85354-9")
                 .search(date__ge=since.astimezone(UTC).date().isoformat())
                 .limit(2).fetch_all())
    assert expected > 2 and len(pressures) == expected, "every page was followed"
    assert len({o.id for o in pressures}) == expected
    assert all(o["component"][0]["code"]["coding"][0]["code"] == "8480-6" for o in pressures)

    response = client.resource(
        "QuestionnaireResponse", status="completed",
        questionnaire="https://ketaclinic.org/Questionnaire/phq9",
        subject={"reference": f"Patient/{patient_id}"},
        authored=(datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        item=[{"linkId": str(n), "answer": [{"valueCoding": {"system": "http://loinc.org",
                                                             "code": "LA6569-3"}}]}
              for n in range(1, 10)])
    response.save()
    assert response.id
    measures = httpx.get(f"{demo_server}/api/v1/patients/{patient_id}/measures",
                         params={"instrument": "phq9"},
                         headers={"Authorization": f"Bearer {token}"}).json()
    latest = measures[-1]
    assert (latest["total"], latest["band"], latest["answers"]) == (9, "mild", [1] * 9)
    assert [a["rule"] for a in latest["alerts"]] == ["phq9-item9"]
