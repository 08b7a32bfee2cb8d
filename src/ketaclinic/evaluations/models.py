"""Tables for evaluations and consents."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.db import Base, RecordMixin, UTCDateTime
from ketaclinic.patients.models import CorrectableMixin


class Evaluation(CorrectableMixin, RecordMixin, Base):
    """A screening of a stored patient for one route, and the prescriber's signed decision."""

    __tablename__ = "evaluation"

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    route: Mapped[str] = mapped_column(String(20))
    indication: Mapped[str] = mapped_column(String(20))
    screened_on: Mapped[date] = mapped_column(Date)
    decision: Mapped[str] = mapped_column(String(20))
    ruleset_version: Mapped[str] = mapped_column(String(60))
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # screened -> signed; or entered-in-error
    status: Mapped[str] = mapped_column(String(20), default="screened")
    signed_decision: Mapped[str | None] = mapped_column(String(20), default=None)
    signed_by: Mapped[str | None] = mapped_column(String(150), default=None)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    caution_reasons: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    sign_note: Mapped[str] = mapped_column(String(2000), default="")


class Consent(CorrectableMixin, RecordMixin, Base):
    """A patient's consent to treatment: who recorded it, when, and which consent text."""

    __tablename__ = "consent"

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    consent_version: Mapped[str] = mapped_column(String(60))
    text_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="active")
    given_on: Mapped[date] = mapped_column(Date)
