"""Giving a dose: checked at the chair, posted to the controlled-substance ledger from what was
drawn for the session, then charted on the treatment session."""

from sqlalchemy.orm import Session

from ketaclinic.inventory import reconcile
from ketaclinic.kernel.actor import Actor
from ketaclinic.treatments import schemas
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import TreatmentSession


def give_dose(*, db: Session, treatment_session_id: str, data: schemas.DoseStartIn,
              actor: Actor) -> TreatmentSession:
    """Check the dose, post it as given in the ledger where the site keeps stock, and chart it.

    The ledger step comes before the chart changes: when it refuses (too little drawn, a lot not
    drawn) nothing has been charted.
    """
    order = treatments.check_dose(db=db, treatment_session_id=treatment_session_id, data=data, actor=actor)
    treatment_session = order.treatment_session
    if (reconcile.keeps_stock(db, treatment_session.site_pk)
            or reconcile.held_by_container(db, treatment_session.pk)):
        reconcile.give_charted_dose(db=db, treatment_session=treatment_session, dose_mg=data.dose_mg,
                                    lot_number=data.lot_number, prescriber=order.prescriber,
                                    actor=actor, patient_id=treatments.patient_id_of(db, treatment_session))
    return treatments.record_dose(db=db, order=order, data=data, actor=actor)
