"""A transaction that repeats another site's patient never writes into that chart nor tells the
caller the patient's id."""

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.patients.models import Condition, Patient
from tests.examples import synthea_bundle


def test_a_repeated_patient_from_another_site_is_refused_and_nothing_is_written(
        api, world, db: Session) -> None:
    body = synthea_bundle("Bill567").read_bytes()
    riverside = api["nurse_b"].post("/fhir", content=body)
    assert riverside.status_code == 200, riverside.text[:300]
    patient_id = str(db.execute(select(Patient.id).order_by(Patient.pk.desc()).limit(1)
                                ).scalar_one())
    conditions = db.execute(select(func.count()).select_from(Condition)).scalar_one()
    bundle = json.loads(body)
    extra = {"fullUrl": "urn:uuid:extra-condition", "request": {"method": "POST",
                                                               "url": "Condition"},
             "resource": {"resourceType": "Condition",
                          "subject": {"reference": bundle["entry"][0]["fullUrl"]},
                          "code": {"coding": [{"system": "http://snomed.info/sct",
                                               "code": "59621000", "display": "Hypertension"}]},
                          "clinicalStatus": {"coding": [{
                              "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                              "code": "active"}]}}}
    bundle["entry"] = [bundle["entry"][0], extra]
    harbor = api["nurse_a"].post("/fhir", json=bundle)
    assert harbor.status_code == 403, harbor.text[:300]
    assert harbor.json()["resourceType"] == "OperationOutcome"
    assert patient_id not in harbor.text
    assert db.execute(select(func.count()).select_from(Condition)).scalar_one() == conditions


def test_enquiries_are_shown_per_site_and_reading_a_patient_message_is_audited(
        api, web, world, db: Session) -> None:
    import uuid

    from ketaclinic import clock
    from ketaclinic.audit.models import AuditEvent
    from ketaclinic.clinics.models import Site
    from ketaclinic.decision.models import Enquiry

    sites = {s.code: s.pk for s in db.execute(select(Site)).scalars()}
    patient_b = db.execute(select(Patient).where(Patient.id == uuid.UUID(world.patients["p_b1"]))
                           ).scalar_one()
    db.add_all([
        Enquiry(name="Visitor A", contact="a@example.org", message="About site A",
                received_at=clock.now(), created_by="public", site_pk=sites["A"]),
        Enquiry(name="Pat B", contact="portal", message="A message from a patient at B",
                received_at=clock.now(), created_by="patient", site_pk=sites["B"],
                patient_pk=patient_b.pk)])
    db.flush()
    admin = web["admin"].get("/enquiries")  # admin works at A and B
    assert "About site A" in admin.text and "A message from a patient at B" in admin.text
    desk = web["frontdesk"].get("/enquiries")  # front desk works at A only
    assert "About site A" in desk.text and "A message from a patient at B" not in desk.text
    read = db.execute(select(AuditEvent).where(AuditEvent.record_type == "Enquiry",
                                               AuditEvent.patient_id == str(patient_b.id))
                      ).scalars().all()
    assert len(read) == 1 and read[0].action == "read"
