"""Tables for treatment sessions, their readings, alarms and events, and the monitor inbox."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.db import WIDE_KEY, Base, RecordMixin, TypedJSON, UTCDateTime

OPEN, DISCHARGED = "open", "discharged"


@dataclass(frozen=True)
class GivenDose:
    """The dose given at the chair: how much, from which lot, and what it was checked against."""

    dose_mg: float
    route: str
    lot_number: str = ""
    mg_per_kg: float | None = None
    planned_dose_mg: float | None = None
    device_times: tuple[str, ...] = ()
    override_reason: str | None = None
    ruleset_version: str | None = None  # the rule set (and clinic's overrides) it was checked on


class TreatmentSession(RecordMixin, Base):
    """One visit at which a dose is given and the patient is watched, at one chair."""

    __tablename__ = "treatment_session"
    # By discharge as well: the chair's last discharge bounds the readings its monitor sent
    # that the next session may take (treatments.service.monitor_readings_since).
    __table_args__ = (Index("ix_treatment_session_chair_status", "chair_pk", "status"),
                      Index("ix_treatment_session_chair_discharged", "chair_pk", "discharged_at"))

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    course_pk: Mapped[int] = mapped_column(ForeignKey("course.pk", ondelete="RESTRICT"))
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    chair_pk: Mapped[int] = mapped_column(ForeignKey("chair.pk", ondelete="RESTRICT"))
    route: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=OPEN)
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dose_start: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    dose_end: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    dose_given: Mapped[GivenDose | None] = mapped_column(TypedJSON(GivenDose), default=None)
    ordered_by: Mapped[str | None] = mapped_column(String(150), default=None)
    # {check id: {"ok": bool, "by": username, "at": iso time, "detail": text}}
    checks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"reason", "by", "at"} when a prescriber let dosing go ahead despite a failed check
    checks_override: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    pre_dose_override: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    escort_present: Mapped[bool] = mapped_column(default=False)
    driving_warning_given: Mapped[bool] = mapped_column(default=False)
    discharge_override: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    discharged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class SessionReading(RecordMixin, Base):
    """Vital signs from the chair: typed, posted to the API or sent by the bedside monitor.

    A monitor reading for a chair with no open session is kept with no session (unmatched).
    """

    __tablename__ = "session_reading"
    # In the order readers of the newest readings ask for them (time, then key), so that the
    # baseline and the newest page come from the index's end under any plan: with (session,
    # time) alone, a plan made while the table was small sorted the whole session every batch.
    __table_args__ = (Index("ix_session_reading_session_time", "session_pk", "taken_at", "pk"),)

    pk: Mapped[int] = mapped_column(WIDE_KEY, primary_key=True, autoincrement=True)
    session_pk: Mapped[int | None] = mapped_column(
        ForeignKey("treatment_session.pk", ondelete="RESTRICT"), default=None)
    chair_pk: Mapped[int | None] = mapped_column(ForeignKey("chair.pk", ondelete="RESTRICT"),
                                                 default=None)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(10))  # typed, api, monitor
    device: Mapped[str] = mapped_column(String(64), default="")
    message_pk: Mapped[int | None] = mapped_column(
        WIDE_KEY, ForeignKey("monitor_message.pk", ondelete="RESTRICT"), default=None)
    status: Mapped[str] = mapped_column(String(20), default="final")
    systolic_mmhg: Mapped[float | None] = mapped_column(Float, default=None)
    diastolic_mmhg: Mapped[float | None] = mapped_column(Float, default=None)
    heart_rate_bpm: Mapped[float | None] = mapped_column(Float, default=None)
    respiratory_rate_per_min: Mapped[float | None] = mapped_column(Float, default=None)
    spo2_pct: Mapped[float | None] = mapped_column(Float, default=None)
    temperature_c: Mapped[float | None] = mapped_column(Float, default=None)


class SessionReadingTally(Base):
    """A part of a session's reading tally: how many of the readings one write added hold each
    vital sign, and when the first and last were taken. A session's tally is the sum of its
    parts, folded into one when it closes (ketaclinic.treatments.reading_tally), so a search of
    a long history counts and finds its sessions' readings without reading them. Derived:
    recounted from the readings whenever asked."""

    __tablename__ = "session_reading_tally"

    pk: Mapped[int] = mapped_column(WIDE_KEY, primary_key=True, autoincrement=True)
    session_pk: Mapped[int] = mapped_column(ForeignKey("treatment_session.pk", ondelete="RESTRICT"),
                                            index=True)
    readings: Mapped[int] = mapped_column(Integer)
    blood_pressure: Mapped[int] = mapped_column(Integer)  # systolic or diastolic present
    heart_rate: Mapped[int] = mapped_column(Integer)
    respiratory_rate: Mapped[int] = mapped_column(Integer)
    spo2: Mapped[int] = mapped_column(Integer)
    temperature: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SessionAlarm(RecordMixin, Base):
    """A limit a reading broke; open until a nurse acknowledges it with a note."""

    __tablename__ = "session_alarm"

    session_pk: Mapped[int] = mapped_column(ForeignKey("treatment_session.pk", ondelete="RESTRICT"),
                                            index=True)
    reading_pk: Mapped[int] = mapped_column(WIDE_KEY, ForeignKey("session_reading.pk",
                                                                 ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(300))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(150), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    acknowledgement_note: Mapped[str] = mapped_column(String(1000), default="")


def text_digest(raw: str) -> bytes:
    """SHA-256 of a message's text as UTF-8: a message sent again has the digest it had."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()


def _digest_of_row(context: Any) -> bytes:
    return text_digest(context.get_current_parameters()["raw"])


class MonitorMessage(RecordMixin, Base):
    """Every HL7 message a monitor sent, kept whatever became of it (never dropped)."""

    __tablename__ = "monitor_message"
    # The review list: open messages of a site, newest first.
    __table_args__ = (Index("ix_monitor_message_review", "site_pk", "status", "received_at"),)

    pk: Mapped[int] = mapped_column(WIDE_KEY, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    peer: Mapped[str] = mapped_column(String(100), default="")
    control_id: Mapped[str] = mapped_column(String(100), default="")
    raw: Mapped[str] = mapped_column(Text)
    # How a resend is found among every message kept, with one lookup of an index: by its text,
    # which holds its control id. Control ids alone recur (gateways restart their counters), so
    # a look by them read more rows every day the feed ran.
    raw_digest: Mapped[bytes] = mapped_column(LargeBinary(32), default=_digest_of_row, index=True)
    # accepted (readings stored on a session), partial (stored on a session, with observations
    # that could not be read set aside: kept for review), unmatched (no open session at that
    # chair), rejected (AE/AR: kept for review)
    status: Mapped[str] = mapped_column(String(20))
    ack_code: Mapped[str] = mapped_column(String(2))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    # Where it was routed (None: no chair, and no site named in its location either).
    site_pk: Mapped[int | None] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"),
                                                default=None)
    chair_pk: Mapped[int | None] = mapped_column(ForeignKey("chair.pk", ondelete="RESTRICT"),
                                                 default=None)
    # Review of a rejected or unmatched message: attached to a session, or looked at and closed.
    attached_session_pk: Mapped[int | None] = mapped_column(
        ForeignKey("treatment_session.pk", ondelete="RESTRICT"), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reviewed_by: Mapped[str | None] = mapped_column(String(150), default=None)
    review_note: Mapped[str] = mapped_column(String(1000), default="")


class SessionEvent(RecordMixin, Base):
    """Something recorded during a session: a MOAA/S or CADSS score, a side effect, an intervention."""

    __tablename__ = "session_event"

    session_pk: Mapped[int] = mapped_column(ForeignKey("treatment_session.pk", ondelete="RESTRICT"),
                                            index=True)
    kind: Mapped[str] = mapped_column(String(20))  # moass, cadss, side-effect, intervention
    code: Mapped[str] = mapped_column(String(40), default="")
    value: Mapped[float | None] = mapped_column(Float, default=None)
    note: Mapped[str] = mapped_column(String(1000), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class SessionAddendum(RecordMixin, Base):
    """A correction or addition after the record closed: the record itself is never edited."""

    __tablename__ = "session_addendum"

    session_pk: Mapped[int] = mapped_column(ForeignKey("treatment_session.pk", ondelete="RESTRICT"),
                                            index=True)
    text: Mapped[str] = mapped_column(String(4000))


class RemsFiling(RecordMixin, Base):
    """A filed Spravato REMS monitoring form: the answers as filed, and who filed them."""

    __tablename__ = "rems_filing"

    session_pk: Mapped[int] = mapped_column(ForeignKey("treatment_session.pk", ondelete="RESTRICT"),
                                            unique=True)
    form: Mapped[dict[str, Any]] = mapped_column(JSON)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
