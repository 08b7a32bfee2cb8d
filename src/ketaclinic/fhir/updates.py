"""FHIR updates of clinic-owned chart entries: status, dates and notes change in place (audited);
a code never changes (mark the entry entered-in-error and create a new one); entered-in-error
goes through the registry's correction."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit import service as audit
from ketaclinic.errors import NotFound, invalid
from ketaclinic.fhir import importer
from ketaclinic.fhir.record import (
    allergy_fact,
    condition_category_of,
    condition_fact,
    medication_fact,
)
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient

UPDATABLE: dict[str, tuple[Any, str, str]] = {"Condition": (Condition, "conditions", "condition"),
             "AllergyIntolerance": (Allergy, "allergies", "allergy"),
             "MedicationStatement": (Medication, "medications", "medication")}


def _changes(resource_type: str, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    if resource_type == "Condition":
        fact = condition_fact(body)
        status = fact.clinical_status
        if status is not None and status not in importer.CONDITION_STATUSES:
            raise invalid("clinicalStatus", f"{status!r} is not a condition status",
                          ", ".join(sorted(importer.CONDITION_STATUSES)))
        notes = " ".join(n.get("text", "") for n in body.get("note") or [])
        return {"clinical_status": status, "verification_status": fact.verification_status,
                "category": condition_category_of(body), "onset_date": fact.onset,
                "abatement_date": fact.abatement, "note": notes}, fact
    if resource_type == "AllergyIntolerance":
        allergy = allergy_fact(body)
        return {"clinical_status": allergy.clinical_status,
                "verification_status": allergy.verification_status,
                "criticality": body.get("criticality"), "kind": allergy.kind}, allergy
    medication = medication_fact(body, {})
    if medication.status is not None and medication.status not in importer.MEDICATION_STATUSES:
        raise invalid("status", f"{medication.status!r} is not a medication status",
                      ", ".join(sorted(importer.MEDICATION_STATUSES)))
    return {"status": medication.status, "start_date": medication.start,
            "end_date": medication.end}, medication


def update(*, db: Session, resource_type: str, resource_id: str, body: dict[str, Any],
           actor: Actor) -> tuple[Any, Patient]:
    """Apply a PUT to a chart entry; returns the entry and its patient."""
    model: Any
    model, kind, code_kind = UPDATABLE[resource_type]
    try:
        key = uuid.UUID(resource_id)
    except ValueError:
        raise NotFound(f"{resource_type}/{resource_id} is not known") from None
    owner = db.execute(select(Patient.id).join(model, model.patient_pk == Patient.pk)
                       .where(model.id == key)).scalar_one_or_none()
    if owner is None:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    patient = patients.open_patient(db=db, patient_id=str(owner), actor=actor, purpose="FHIR update")
    entry = db.execute(select(model).where(model.id == key)).scalar_one()
    changes, fact = _changes(resource_type, body)
    coded = importer.coded_or_as_sent(code_kind, fact.codings, fact.text)
    if coded is None or (coded[0], coded[1]) != (entry.system, entry.code):
        raise invalid("code", "the code of a recorded entry cannot change",
                      f"{entry.system}|{entry.code}, or mark it entered-in-error and create another")
    status_field = "status" if resource_type == "MedicationStatement" else "verification_status"
    if changes.get(status_field) == "entered-in-error":
        reason = " ".join(n.get("text", "") for n in body.get("note") or []) or "entered in error"
        patients.mark_entered_in_error(db=db, patient_id=str(owner), kind=kind,
                                       entry_id=resource_id, reason=reason[:500], actor=actor)
        return entry, patient
    changed = []
    for name, value in changes.items():
        if value is not None and value != "" and getattr(entry, name) != value:
            setattr(entry, name, value)
            changed.append(name)
    db.flush()
    audit.record(db=db, actor=actor, action="update", record_type=model.__name__,
                 record_id=entry.id, patient_id=patient.id,
                 detail=f"FHIR update: {', '.join(changed) or 'no change'}")
    return entry, patient
