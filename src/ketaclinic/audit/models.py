"""The audit event table. The database refuses UPDATE and DELETE on it (see migrations)."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic import clock
from ketaclinic.db import Base, UTCDateTime


class AuditEvent(Base):
    """One thing someone did or tried: who, what, which record, when, from where.

    Append-only, so it has no updated_at; `seq` orders the hash chain.
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
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
