"""The flows at the chair, called directly: the ledger step comes before the chart changes, and
a refusal from either domain leaves both as they were."""

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Site
from ketaclinic.errors import InvalidInput
from ketaclinic.flows import discharge as closing
from ketaclinic.flows import dose
from ketaclinic.inventory.models import LedgerRow
from ketaclinic.inventory.reconcile import LedgerMismatch
from ketaclinic.kernel.actor import Actor
from ketaclinic.treatments import schemas
from ketaclinic.treatments.models import TreatmentSession
from tests.inventory.test_session_link import received_vial
from tests.treatments.test_flow import ready_to_dose

INV = "/api/v1/inventory"
DOSE = schemas.DoseStartIn(dose_mg=35, lot_number="K123", ordered_by="prescriber")


def nurse(db: Session) -> Actor:
    site = db.execute(select(Site).where(Site.code == "A")).scalar_one()
    return Actor(username="nurse_a", role="nurse", site_pks=frozenset({site.pk}))


def session_row(db: Session, session_id: str) -> TreatmentSession:
    return db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()


def test_a_dose_the_ledger_refuses_is_not_charted(api, world, db: Session) -> None:
    received_vial(api, db, "flow")
    session_id = ready_to_dose(api, world, db)
    with pytest.raises(InvalidInput) as refused:
        dose.give_dose(db=db, treatment_session_id=session_id, data=DOSE, actor=nurse(db))
    assert refused.value.problems[0].field == "dose_mg"
    row = session_row(db, session_id)
    assert (row.dose_start, row.dose_given, row.ordered_by) == (None, None, None)
    assert db.execute(select(func.count()).select_from(LedgerRow).where(
        LedgerRow.session_pk == row.pk)).scalar_one() == 0


def test_a_dose_drawn_is_posted_given_and_charted_together(api, world, db: Session) -> None:
    vial = received_vial(api, db, "flow2")
    session_id = ready_to_dose(api, world, db)
    drawn = api["nurse_a"].post(f"{INV}/draws", json={
        "container_id": vial, "session_id": session_id, "quantity_mg": "35"})
    assert drawn.status_code == 201, drawn.text
    given = dose.give_dose(db=db, treatment_session_id=session_id, data=DOSE, actor=nurse(db))
    assert given.dose_given is not None and given.dose_given.dose_mg == 35
    accounts = dict(db.execute(select(LedgerRow.account, func.sum(LedgerRow.quantity_mg)).where(
        LedgerRow.session_pk == given.pk).group_by(LedgerRow.account)).all())
    assert float(accounts["patient"]) == 35 and float(accounts["session"]) == 0


def test_discharge_refused_by_the_ledger_leaves_the_record_open(api, world, db: Session) -> None:
    vial = received_vial(api, db, "flow3")
    session_id = ready_to_dose(api, world, db)
    api["nurse_a"].post(f"{INV}/draws", json={
        "container_id": vial, "session_id": session_id, "quantity_mg": "50"})
    dose.give_dose(db=db, treatment_session_id=session_id, data=DOSE, actor=nurse(db))
    prescriber = Actor(username="prescriber", role="prescriber", site_pks=nurse(db).site_pks)
    with pytest.raises(LedgerMismatch, match="15 mg drawn is neither given nor wasted"):
        closing.discharge(db=db, treatment_session_id=session_id, actor=prescriber,
                          data=schemas.DischargeIn(escort_present=True,
                                                   driving_warning_given=True),
                          override_reason="clinical criteria reviewed at the chair")
    row = session_row(db, session_id)
    assert (row.status, row.discharged_at, row.discharge_override) == ("open", None, None)
