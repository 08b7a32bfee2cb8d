"""Changing a patient's demographics: a death recorded there also cancels the appointments
still booked ahead for them, in the same transaction, so no chair is held and no one is
called for a patient who has died."""

from sqlalchemy.orm import Session

from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import schemas
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import booking


def update_demographics(*, db: Session, patient_id: str, data: schemas.PatientUpdate,
                        actor: Actor) -> Patient:
    """Save the changes; if the patient is now recorded as deceased, cancel what is booked."""
    patient = patients.update_demographics(db=db, patient_id=patient_id, data=data, actor=actor)
    if patient.deceased:
        booking.cancel_after_death(db=db, actor=actor, patient_pk=patient.pk)
    return patient
