"""Which clinic record each imported FHIR resource became (so a re-import changes nothing)."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.db import Base, RecordMixin


class ImportedResource(RecordMixin, Base):
    """One imported resource: its source key (type and id or urn:uuid) and the record it made."""

    __tablename__ = "imported_resource"

    source_key: Mapped[str] = mapped_column(String(300), unique=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    record_type: Mapped[str] = mapped_column(String(40))
    record_pk: Mapped[int | None] = mapped_column(default=None)
    patient_pk: Mapped[int | None] = mapped_column(default=None, index=True)
    outcome: Mapped[str] = mapped_column(String(20))  # created, skipped
    reason: Mapped[str] = mapped_column(String(300), default="")
