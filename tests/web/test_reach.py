"""Record-level reach: staff see their sites' patients, a patient only their own record."""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent


def _last_event(db: Session) -> AuditEvent:
    return db.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()


def test_nurse_at_site_a_cannot_open_a_patient_of_site_b(api, web, world, db: Session) -> None:
    other = world.patients["p_b1"]
    for path in (f"/api/v1/patients/{other}", f"/api/v1/patients/{other}/vitals"):
        response = api["nurse_a"].get(path)
        assert response.status_code == 404, path
        denied = _last_event(db)
        assert (denied.action, denied.created_by, denied.patient_id) == ("denied", "nurse_a", other)
    assert web["nurse_a"].get(f"/patients/{other}").status_code == 404
    write = api["nurse_a"].post(f"/api/v1/patients/{other}/vitals", json={"heart_rate_bpm": 70})
    assert write.status_code == 404
    found = api["nurse_a"].get("/api/v1/patients", params={"q": "TestP_B1"}).json()
    assert found == []
    assert api["nurse_b"].get(f"/api/v1/patients/{other}").status_code == 200


def test_patient_sees_only_their_own_record(api, web, world, db: Session) -> None:
    me, other = world.patients["p_a1"], world.patients["p_a2"]
    client = api["patient_a1"]
    assert client.get(f"/api/v1/patients/{me}").status_code == 200
    assert client.get(f"/api/v1/patients/{me}/vitals").status_code == 200
    assert client.get("/api/v1/me").json()["patient_id"] == me
    guesses = [other, world.patients["p_b1"], str(uuid.uuid4()), "1", "../" + other, "' OR 1=1"]
    for guess in guesses:
        for suffix in ("", "/conditions", "/vitals"):
            response = client.get(f"/api/v1/patients/{guess}{suffix}")
            assert response.status_code == 404, (guess, suffix, response.status_code)
    assert client.get("/api/v1/patients").status_code == 403
    page = web["patient_a1"].get("/me")
    assert page.status_code == 200 and "TestP_A1" in page.text
    assert web["patient_a1"].get(f"/patients/{other}").status_code == 404


def test_front_desk_sees_demographics_but_no_clinical_data(api, web, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    assert api["frontdesk"].get(f"/api/v1/patients/{pid}").status_code == 200
    for kind in ("conditions", "medications", "allergies", "vitals"):
        assert api["frontdesk"].get(f"/api/v1/patients/{pid}/{kind}").status_code == 403
    page = web["frontdesk"].get(f"/patients/{pid}")
    assert page.status_code == 200
    assert "TestP_A1" in page.text and 'id="no-clinical"' in page.text
    for clinical in ("MDD recurrent severe", "vitals-chart", "Vital signs", "Medications"):
        assert clinical not in page.text
    nurse_page = web["nurse_a"].get(f"/patients/{pid}")
    assert "MDD recurrent severe" in nurse_page.text and 'id="vitals-chart"' in nurse_page.text
