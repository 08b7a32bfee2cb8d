"""Discrepancies: listed for the site's administrator until resolved with a reason, kept forever."""

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth.models import User
from ketaclinic.db import by_public_id
from ketaclinic.errors import Conflict, Forbidden, invalid
from ketaclinic.inventory import ledger, reconcile
from ketaclinic.inventory.models import Discrepancy, LedgerRow, StockCount
from ketaclinic.kernel.actor import Actor
from ketaclinic.treatments.models import TreatmentSession

MIN_REASON = 10


def open_count(db: Session, site_pk: int) -> int:
    """How many discrepancies are open at a site (the administrator's alert)."""
    return int(db.execute(select(func.count()).select_from(Discrepancy).where(
        Discrepancy.site_pk == site_pk, Discrepancy.resolved_at.is_(None))).scalar_one())


def listed(db: Session, actor: Actor, *, include_resolved: bool = False) -> Sequence[Discrepancy]:
    """Discrepancies at the actor's sites, open first, newest first."""
    query = select(Discrepancy).where(Discrepancy.site_pk.in_(actor.site_pks))
    if not include_resolved:
        query = query.where(Discrepancy.resolved_at.is_(None))
    return db.execute(query.order_by(Discrepancy.resolved_at.is_not(None),
                                     Discrepancy.opened_at.desc())).scalars().all()


def get(db: Session, discrepancy_id: object, actor: Actor) -> Discrepancy:
    """One discrepancy at the actor's sites."""
    return by_public_id(db, Discrepancy, discrepancy_id, "discrepancy", site_pks=actor.site_pks)


def _involved(db: Session, discrepancy: Discrepancy) -> set[str]:
    """Who recorded what the discrepancy is about (they may not resolve it themselves)."""
    if discrepancy.session_pk is not None:
        rows = db.execute(select(LedgerRow.actor, LedgerRow.witness).where(
            LedgerRow.session_pk == discrepancy.session_pk)).all()
        return {name for row in rows for name in row if name}
    count = db.execute(select(StockCount).where(StockCount.pk == discrepancy.count_pk)
                       ).scalar_one_or_none()
    return {count.counted_by, count.second_counter} if count else set()


def resolve(*, db: Session, discrepancy: Discrepancy, reason: str, actor: Actor,
            witness_user: User | None = None) -> Discrepancy:
    """Close a discrepancy with the reason; with a witness, also bring the ledger in line (write
    off what a session drew and nobody accounted for, or adjust a container to its count)."""
    if discrepancy.resolved_at is not None:
        raise Conflict("this discrepancy is already resolved")
    if len(reason.strip()) < MIN_REASON:
        raise invalid("reason", "say what was found and done",
                      f"at least {MIN_REASON} characters")
    if actor.username in _involved(db, discrepancy):
        raise Forbidden("someone who recorded these entries cannot resolve the discrepancy")
    txn: uuid.UUID | None = None
    if witness_user is not None:
        txn = _bring_ledger_in_line(db, discrepancy, reason.strip(), actor, witness_user)
    discrepancy.resolved_at = clock.now()
    discrepancy.resolved_by = actor.username
    discrepancy.resolution = reason.strip()[:1000]
    discrepancy.resolution_txn = txn
    db.flush()
    audit.record(db=db, actor=actor, action="resolve", record_type="Discrepancy",
                 record_id=discrepancy.id,
                 detail=f"{discrepancy.kind}: {reason.strip()[:300]}"
                        + (f"; ledger entry {txn}" if txn else ""))
    return discrepancy


def _bring_ledger_in_line(db: Session, discrepancy: Discrepancy, reason: str, actor: Actor,
                          witness_user: User) -> uuid.UUID:
    if discrepancy.kind == "session" and discrepancy.session_pk is not None:
        treatment_session = db.execute(select(TreatmentSession).where(
            TreatmentSession.pk == discrepancy.session_pk)).scalar_one()
        held = reconcile.held_by_container(db, treatment_session.pk)
        if not held:
            raise Conflict("nothing drawn for the session is unaccounted for; resolve without "
                           "a ledger entry")
        txns = [ledger.write_off(db=db, container_pk=pk, session_pk=treatment_session.pk,
                                 reason=f"discrepancy: {reason}", actor=actor,
                                 witness_user=witness_user) for pk, _ in held]
        return txns[0]
    if discrepancy.container_pk is None:
        raise Conflict("this discrepancy has no container to adjust")
    delta = (discrepancy.found_mg - discrepancy.expected_mg).quantize(ledger.MG)
    return ledger.adjust(db=db, container_pk=discrepancy.container_pk, delta=delta,
                         reason=f"count variance: {reason}", witness_user=witness_user,
                         actor=actor)
