"""The audit event table and the seals that chain it (and the controlled-substance ledger).

The database refuses UPDATE and DELETE on audit events and seals (see migrations)."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Sequence, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic import clock
from ketaclinic.db import Base, UTCDateTime

# PostgreSQL numbers audit events from a sequence, so appends need no lock; SQLite has one
# writer at a time and takes the next number after the last.
AUDIT_SEQUENCE = Sequence("audit_event_seq_seq", metadata=Base.metadata)


class AuditEvent(Base):
    """One thing someone did or tried: who, what, which record, when, from where.

    Append-only, so it has no updated_at. `mac` is the keyed MAC of the row's content, made when
    it is written; a seal chains it to the events before it once it has committed.
    """

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_patient_id", "patient_id"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[str] = mapped_column(String(150))
    role: Mapped[str] = mapped_column(String(20), default="")
    action: Mapped[str] = mapped_column(String(30))
    record_type: Mapped[str] = mapped_column(String(50), default="")
    record_id: Mapped[str] = mapped_column(String(64), default="")
    patient_id: Mapped[str | None] = mapped_column(String(64), default=None)
    client: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[str] = mapped_column(String(1000), default="")
    mac: Mapped[str] = mapped_column(String(64))


class Seal(Base):
    """One link of a chain: the row `ref` of the chain's table, its MAC, and a keyed MAC over
    that and the previous link's, in the order rows were sealed (which, on PostgreSQL, is not
    always the order they were numbered: a transaction may commit after a later-numbered one)."""

    __tablename__ = "audit_seal"
    __table_args__ = (UniqueConstraint("chain", "ref", name="uq_audit_seal_chain_ref"),)

    chain: Mapped[str] = mapped_column(String(10), primary_key=True)  # audit, ledger
    pos: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ref: Mapped[int] = mapped_column(BigInteger)
    row_mac: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mac: Mapped[str] = mapped_column(String(64))


class Unsealed(Base):
    """A committed row waiting for its seal, written in the same transaction as the row (so the
    sealer finds late commits without scanning the whole table); removed once sealed."""

    __tablename__ = "audit_unsealed"

    chain: Mapped[str] = mapped_column(String(10), primary_key=True)
    ref: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
