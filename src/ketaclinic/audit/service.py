"""Writing, reading and verifying the audit trail."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit.chain import GENESIS_HASH, row_hash
from ketaclinic.audit.models import AuditEvent
from ketaclinic.db import session_factory
from ketaclinic.kernel.actor import Actor

# Any constant works; it names the advisory lock that serialises appends on PostgreSQL.
_APPEND_LOCK_KEY = 0x6B657461
DETAIL_MAX = 1000


def _lock_chain(db: Session) -> None:
    """Serialise appends so that two writers never chain to the same previous row."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK_KEY})
    # SQLite: every transaction begins IMMEDIATE and so already holds the write lock.


def record(
    *,
    db: Session,
    actor: Actor,
    action: str,
    record_type: str = "",
    record_id: object = "",
    patient_id: object = None,
    detail: str = "",
) -> AuditEvent:
    """Append one event to the chain in the caller's transaction."""
    _lock_chain(db)
    last = db.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq = (last.seq + 1) if last else 1
    prev_hash = last.hash if last else GENESIS_HASH
    event = AuditEvent(
        seq=seq,
        id=uuid.uuid4(),
        created_at=clock.now(),
        created_by=actor.username,
        role=actor.role,
        action=action,
        record_type=record_type,
        record_id=str(record_id) if record_id else "",
        patient_id=str(patient_id) if patient_id else None,
        client=actor.client[:100],
        detail=detail[:DETAIL_MAX],
        prev_hash=prev_hash,
    )
    event.hash = _hash_of(event)
    db.add(event)
    db.flush()
    return event


def record_now(**kwargs: object) -> None:
    """Append one event in a transaction of its own, kept even if the caller's rolls back."""
    with session_factory()() as db:
        record(db=db, **kwargs)  # type: ignore[arg-type]
        db.commit()


def _hash_of(event: AuditEvent) -> str:
    return row_hash(
        seq=event.seq,
        event_id=str(event.id),
        created_at=event.created_at,
        created_by=event.created_by,
        role=event.role,
        action=event.action,
        record_type=event.record_type,
        record_id=event.record_id,
        patient_id=event.patient_id,
        client=event.client,
        detail=event.detail,
        prev_hash=event.prev_hash,
    )


@dataclass(frozen=True)
class ChainReport:
    """The outcome of checking the chain: whole, or the first bad row and why."""

    rows_checked: int
    head_hash: str
    bad_seq: int | None = None
    bad_id: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Whether every row checked out."""
        return self.bad_seq is None


def verify(*, db: Session, batch_size: int = 2000) -> ChainReport:
    """Recompute the chain from the first row; report the first edited, missing or moved row."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    rows = db.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()
    for event in rows.yield_per(batch_size):
        problem = ""
        if event.seq != expected_seq:
            problem = f"sequence jumps from {expected_seq - 1} to {event.seq} (row removed)"
        elif event.prev_hash != prev_hash:
            problem = "previous-hash link broken (row removed or inserted out of order)"
        elif _hash_of(event) != event.hash:
            problem = "content does not match its hash (row edited)"
        if problem:
            return ChainReport(checked, prev_hash, event.seq, str(event.id), problem)
        checked += 1
        expected_seq = event.seq + 1
        prev_hash = event.hash
    return ChainReport(checked, prev_hash)


def for_patient(*, db: Session, patient_id: object, limit: int = 500) -> Sequence[AuditEvent]:
    """The most recent events that touched one patient's record, newest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.patient_id == str(patient_id))
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )
    return db.execute(query).scalars().all()
