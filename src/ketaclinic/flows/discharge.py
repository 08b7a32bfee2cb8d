"""Closing a treatment session: the discharge criteria met (or overridden by a prescriber), and the
controlled-substance record for the session adding up, before the record closes."""

from sqlalchemy.orm import Session

from ketaclinic.inventory import reconcile
from ketaclinic.kernel.actor import Actor
from ketaclinic.treatments import schemas
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import TreatmentSession


def discharge(*, db: Session, treatment_session_id: str, data: schemas.DischargeIn, actor: Actor,
              override_reason: str | None = None) -> TreatmentSession:
    """Discharge when every criterion is met (or a prescriber overrides) and the ledger adds up."""
    review = treatments.review_discharge(db=db, treatment_session_id=treatment_session_id, data=data,
                                         actor=actor,
                                         override_reason=override_reason)
    # The controlled-substance record must add up whatever the clinical override says.
    reconcile.require_balanced(db=db, treatment_session=review.treatment_session, actor=actor,
                               patient_id=treatments.patient_id_of(db, review.treatment_session))
    return treatments.record_discharge(db=db, review=review, data=data, actor=actor,
                                       override_reason=override_reason)
