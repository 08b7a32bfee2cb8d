"""Tables for measures (scored questionnaires and ratings), questionnaire links, alerts and
end-of-induction course reviews."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.db import Base, RecordMixin, UTCDateTime
from ketaclinic.patients.models import CorrectableMixin


class Measure(CorrectableMixin, RecordMixin, Base):
    """One scored questionnaire or rating; its item answers are rows of measure_answer."""

    __tablename__ = "measure"
    # Trajectories and the outcome windows read a course's measures in time order.
    __table_args__ = (Index("ix_measure_course_taken", "course_pk", "taken_at"),)

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"), index=True)
    # The course (a signed evaluation) the measure belongs to, when there is one.
    course_pk: Mapped[int | None] = mapped_column(ForeignKey("course.pk", ondelete="RESTRICT"),
                                                  default=None)
    instrument: Mapped[str] = mapped_column(String(20), index=True)
    total: Mapped[int | None] = mapped_column(Integer, default=None)
    band: Mapped[str | None] = mapped_column(String(60), default=None)
    risk_level: Mapped[str | None] = mapped_column(String(20), default=None)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # patient-link, portal, staff (entered on the patient's behalf), api
    source: Mapped[str] = mapped_column(String(20))
    occasion: Mapped[str] = mapped_column(String(30), default="ad-hoc")
    request_pk: Mapped[int | None] = mapped_column(ForeignKey("measure_request.pk",
                                                              ondelete="RESTRICT"), default=None)
    status: Mapped[str] = mapped_column(String(20), default="final")


class MeasureAnswer(Base):
    """One item's answer (None: not asked), kept beside the total and queryable (PHQ-9 item 9)."""

    __tablename__ = "measure_answer"

    pk: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    measure_pk: Mapped[int] = mapped_column(ForeignKey("measure.pk", ondelete="RESTRICT"), index=True)
    item_number: Mapped[int] = mapped_column(Integer)
    system: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(40))
    value: Mapped[int | None] = mapped_column(Integer, default=None)


class MeasureRequest(RecordMixin, Base):
    """A personal questionnaire link: single use, expiring; only the token's hash is stored."""

    __tablename__ = "measure_request"

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    course_pk: Mapped[int | None] = mapped_column(ForeignKey("course.pk", ondelete="RESTRICT"),
                                                  default=None)
    instruments: Mapped[list[str]] = mapped_column(JSON)
    occasion: Mapped[str] = mapped_column(String(30))
    due_on: Mapped[date | None] = mapped_column(Date, default=None)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sent_to: Mapped[str] = mapped_column(String(320), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    send_error: Mapped[str] = mapped_column(String(500), default="")


class MeasureAlert(RecordMixin, Base):
    """A suicidality or worsening alert: open until a clinician records what was done."""

    __tablename__ = "measure_alert"

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"), index=True)
    measure_pk: Mapped[int] = mapped_column(ForeignKey("measure.pk", ondelete="RESTRICT"))
    rule: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(300))
    prescriber: Mapped[str | None] = mapped_column(String(150), default=None)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    escalate_at: Mapped[datetime] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    closed_by: Mapped[str | None] = mapped_column(String(150), default=None)
    action: Mapped[str | None] = mapped_column(String(40), default=None)
    note: Mapped[str] = mapped_column(String(2000), default="")
    # The escalation notice to the on-call clinician: pending, sent or failed (and why).
    notice_status: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    notice_to: Mapped[str] = mapped_column(String(254), default="")
    notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    notice_error: Mapped[str] = mapped_column(String(500), default="")
    notice_attempts: Mapped[int] = mapped_column(Integer, default=0)
    notice_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class OnCall(RecordMixin, Base):
    """A clinician on call for a site's alerts from one moment to another (the rota)."""

    __tablename__ = "on_call"
    __table_args__ = (Index("ix_on_call_site_starts", "site_pk", "starts_at"),)

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    user_pk: Mapped[int] = mapped_column(ForeignKey("app_user.pk", ondelete="RESTRICT"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancelled_by: Mapped[str | None] = mapped_column(String(150), default=None)


class CourseReview(RecordMixin, Base):
    """The prescriber's end-of-induction decision for a course, beside what the scores showed."""

    __tablename__ = "course_review"

    course_pk: Mapped[int] = mapped_column(ForeignKey("course.pk", ondelete="RESTRICT"),
                                           index=True)
    state: Mapped[str] = mapped_column(String(20))
    card: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(String(2000), default="")


class CourseOutcome(Base):
    """What a course's primary-instrument measures show so far, kept current by every write of a
    measure (ketaclinic.measures.course_outcomes), so the outcomes dashboard groups courses
    instead of windowing every measure. Derived: rebuilt from the measures whenever asked."""

    __tablename__ = "course_outcome"

    course_pk: Mapped[int] = mapped_column(ForeignKey("course.pk", ondelete="RESTRICT"),
                                           primary_key=True, autoincrement=False)
    # The site of the course's baseline measure: the site the course is counted at.
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"), index=True)
    instrument: Mapped[str] = mapped_column(String(20))
    baseline: Mapped[int] = mapped_column(Integer)
    baseline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Measures later than the baseline: a course counts on the dashboard from the first one.
    measures_after_baseline: Mapped[int] = mapped_column(Integer)
    latest: Mapped[int] = mapped_column(Integer)
    latest_at: Mapped[datetime] = mapped_column(UTCDateTime)
    best: Mapped[int] = mapped_column(Integer)
    best_at: Mapped[datetime] = mapped_column(UTCDateTime)
    responding: Mapped[bool] = mapped_column(Boolean)  # the latest measure is at or below the line
    remitted: Mapped[bool] = mapped_column(Boolean)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    first_remission_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The first measure back above the response line after the first response.
    relapsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Fingerprint of the response and remission rules the row was computed with.
    rules: Mapped[str] = mapped_column(String(16), index=True)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)

