"""Changing a patient's demographics: a death recorded there also cancels the appointments
still booked ahead for them and closes their portal account, in the same transaction, so no
chair is held, no one is called for a patient who has died, and no one logs in as them."""

from sqlalchemy.orm import Session

from ketaclinic.auth import service as auth
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import schemas
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import booking


def update_demographics(*, db: Session, patient_id: str, data: schemas.PatientUpdate,
                        actor: Actor) -> Patient:
    """Save the changes; if the patient is now recorded as deceased, cancel what is booked and
    close their portal account."""
    patient = patients.update_demographics(db=db, patient_id=patient_id, data=data, actor=actor)
    if patient.deceased:
        booking.cancel_after_death(db=db, actor=actor, patient_pk=patient.pk)
        auth.close_accounts_of_deceased(db=db, actor=actor, patient_pk=patient.pk)
    return patient
