"""Bulk Data export jobs and their NDJSON files (kept in the database with the job)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.db import Base, RecordMixin, UTCDateTime


class ExportJob(RecordMixin, Base):
    """One $export request: who asked, for which patients and types, and where it stands."""

    __tablename__ = "export_job"

    requested_by: Mapped[str] = mapped_column(String(150))
    request_url: Mapped[str] = mapped_column(String(2000))
    patient_pks: Mapped[list[int]] = mapped_column(JSON)
    types: Mapped[list[str]] = mapped_column(JSON)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    status: Mapped[str] = mapped_column(String(20), default="accepted")  # in-progress, complete, error
    transaction_time: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    error: Mapped[str] = mapped_column(String(1000), default="")
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class ExportFile(RecordMixin, Base):
    """One NDJSON file of an export: all resources of one type."""

    __tablename__ = "export_file"

    job_pk: Mapped[int] = mapped_column(ForeignKey("export_job.pk", ondelete="CASCADE"), index=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
