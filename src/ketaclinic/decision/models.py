"""An enquiry a visitor chose to send to the clinic from the public pages."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.db import Base, RecordMixin, UTCDateTime


class Enquiry(RecordMixin, Base):
    """A message to the clinic, with the self-check result only if the visitor included it."""

    __tablename__ = "enquiry"

    site_pk: Mapped[int | None] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"),
                                                default=None)
    # set when a logged-in patient writes from their portal
    patient_pk: Mapped[int | None] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"),
                                                   default=None)
    name: Mapped[str] = mapped_column(String(150))
    contact: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
    self_check: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    handled_by: Mapped[str | None] = mapped_column(String(150), default=None)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
