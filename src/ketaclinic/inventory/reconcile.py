"""The ledger against the treatment record: what was drawn for a session must be given or wasted,
and what the chart says was given must be what the ledger says, before the record closes."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.errors import Conflict, invalid
from ketaclinic.inventory import ledger
from ketaclinic.inventory.models import Container, Discrepancy, LedgerRow, Lot, StorageLocation
from ketaclinic.kernel.actor import Actor
from ketaclinic.treatments.models import TreatmentSession

ZERO = Decimal(0)


class LedgerMismatch(Conflict):
    """The session cannot close: its amounts do not add up. The discrepancy opened for the
    administrator is kept even though the closing is refused (the caller commits it)."""

    keeps_changes = True


@dataclass(frozen=True)
class SessionFigures:
    """Where every mg drawn for a session went, and what the chart says was given."""

    drawn: Decimal
    given: Decimal
    wasted: Decimal
    lost: Decimal
    held: Decimal
    charted: Decimal | None
    lots: tuple[str, ...]

    def problems(self, keeps_stock: bool) -> list[str]:
        """Why the session cannot close yet (empty when it adds up)."""
        found = []
        if self.held:
            found.append(f"{self.held.normalize():f} mg drawn is neither given nor wasted (drawn "
                         f"{self.drawn.normalize():f} = given {self.given.normalize():f} + wasted "
                         f"{self.wasted.normalize():f})")
        if keeps_stock or self.drawn:
            charted = self.charted or ZERO
            if charted != self.given:
                found.append(f"the chart says {charted.normalize():f} mg given; the ledger says "
                             f"{self.given.normalize():f} mg")
        return found


def keeps_stock(db: Session, site_pk: int) -> bool:
    """Whether the site keeps controlled substances in a cabinet (and so must account for doses)."""
    return bool(db.execute(select(exists().where(StorageLocation.site_pk == site_pk))).scalar())


def figures(db: Session, treatment_session: TreatmentSession) -> SessionFigures:
    """The session's ledger balances by account (drawn is their sum: the ledger is double-entry)."""
    sums = dict(db.execute(select(LedgerRow.account, func.sum(LedgerRow.quantity_mg)).where(
        LedgerRow.session_pk == treatment_session.pk).group_by(LedgerRow.account)).all())

    def total(account: str) -> Decimal:
        return Decimal(sums.get(account) or 0).quantize(ledger.MG)

    given, wasted = total(ledger.PATIENT), total(ledger.WASTE)
    lost, held = total(ledger.LOSS), total(ledger.SESSION)
    charted = None
    if treatment_session.dose_given is not None:
        charted = Decimal(str(treatment_session.dose_given.dose_mg)).quantize(ledger.MG)
    lots = db.execute(select(Lot.lot_number).distinct().join(
        Container, Container.lot_pk == Lot.pk).join(
        LedgerRow, LedgerRow.container_pk == Container.pk).where(
        LedgerRow.session_pk == treatment_session.pk, LedgerRow.kind == "draw")).scalars().all()
    return SessionFigures(drawn=given + wasted + lost + held, given=given, wasted=wasted,
                          lost=lost, held=held, charted=charted, lots=tuple(sorted(lots)))


def held_by_container(db: Session, session_pk: int) -> list[tuple[int, Decimal]]:
    """Containers with mg drawn for the session and not yet given or wasted, oldest draw first."""
    rows = db.execute(select(LedgerRow.container_pk, func.sum(LedgerRow.quantity_mg),
                             func.min(LedgerRow.pk)).where(
        LedgerRow.session_pk == session_pk, LedgerRow.account == ledger.SESSION).group_by(
        LedgerRow.container_pk).order_by(func.min(LedgerRow.pk))).all()
    return [(pk, Decimal(held).quantize(ledger.MG)) for pk, held, _ in rows if Decimal(held) > 0]


def give_charted_dose(*, db: Session, treatment_session: TreatmentSession, dose_mg: float, lot_number: str,
                      prescriber: str, actor: Actor, patient_id: object) -> str:
    """Post the charted dose as given from what was drawn for the session; returns the lot(s).

    Refused when less was drawn than is charted, or when the lot typed is not one drawn.
    """
    held = held_by_container(db, treatment_session.pk)
    need = Decimal(str(dose_mg)).quantize(ledger.MG)
    available = sum((h for _, h in held), ZERO)
    if available < need:
        raise invalid("dose_mg", f"{need.normalize():f} mg charted but only "
                      f"{available.normalize():f} mg is drawn for this session",
                      "draw the dose from the cabinet first (Controlled substance, on this page)")
    lots = figures(db, treatment_session).lots
    if lot_number.strip() and lot_number.strip() not in (*lots, ", ".join(lots)):
        raise invalid("lot_number", f"lot {lot_number.strip()!r} was not drawn for this session",
                      ", ".join(lots))
    left = need
    for container_pk, amount in held:
        if not left:
            break
        take = min(amount, left)
        ledger.give(db=db, container_pk=container_pk, amount=take, session_pk=treatment_session.pk,
                    prescriber=prescriber, actor=actor, patient_id=patient_id)
        left -= take
    return ", ".join(lots)


def require_balanced(*, db: Session, treatment_session: TreatmentSession, actor: Actor,
                     patient_id: object) -> None:
    """Refuse to close a session whose amounts do not add up, opening a discrepancy for the
    site's administrator; a discrepancy an administrator resolved for these figures lets it close."""
    problems = figures(db, treatment_session).problems(keeps_stock(db, treatment_session.site_pk))
    if not problems:
        return
    detail = "; ".join(problems)
    earlier = db.execute(select(Discrepancy).where(
        Discrepancy.session_pk == treatment_session.pk, Discrepancy.detail == detail[:1000])).scalars().all()
    if any(d.resolved_at is not None for d in earlier):
        return
    if not earlier:
        current = figures(db, treatment_session)
        opened = Discrepancy(site_pk=treatment_session.site_pk, kind="session",
                             session_pk=treatment_session.pk,
                             expected_mg=current.drawn, found_mg=current.given + current.wasted,
                             detail=detail[:1000], opened_at=clock.now(), created_by=actor.username)
        db.add(opened)
        db.flush()
        audit.record(db=db, actor=actor, action="inventory discrepancy", record_type="Discrepancy",
                     record_id=opened.id, patient_id=patient_id, detail=detail[:500])
    raise LedgerMismatch("the controlled-substance record does not add up, so the session "
                         f"cannot close: {detail}. The site's administrator has been alerted.")
