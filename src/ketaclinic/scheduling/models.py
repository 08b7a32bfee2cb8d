"""Tables for opening hours, closed days, staff shifts and absences, appointments, reminders and
calendar feeds."""

import uuid
from datetime import date, datetime, time

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Time, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.db import Base, RecordMixin, UTCDateTime

BOOKED, CANCELLED, NO_SHOW, CHECKED_IN = "booked", "cancelled", "no-show", "checked-in"


class SiteHours(RecordMixin, Base):
    """When a site is open on a weekday (local time of the site)."""

    __tablename__ = "site_hours"
    __table_args__ = (UniqueConstraint("site_pk", "weekday"),)

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)


class SiteClosure(RecordMixin, Base):
    """A day a site is closed (a holiday)."""

    __tablename__ = "site_closure"
    __table_args__ = (UniqueConstraint("site_pk", "day"),)

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")


class StaffShift(RecordMixin, Base):
    """A staff member's regular working hours at a site on a weekday (local time)."""

    __tablename__ = "staff_shift"
    __table_args__ = (Index("ix_staff_shift_site_weekday", "site_pk", "weekday"),)

    user_pk: Mapped[int] = mapped_column(ForeignKey("app_user.pk", ondelete="RESTRICT"))
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    weekday: Mapped[int] = mapped_column(Integer)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)


class StaffAbsence(RecordMixin, Base):
    """A day a staff member is away (leave, training)."""

    __tablename__ = "staff_absence"
    __table_args__ = (UniqueConstraint("user_pk", "day"),)

    user_pk: Mapped[int] = mapped_column(ForeignKey("app_user.pk", ondelete="RESTRICT"))
    day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")


class Appointment(RecordMixin, Base):
    """One booked visit: its own row even within a series, so moving one never moves another."""

    __tablename__ = "appointment"
    __table_args__ = (Index("ix_appointment_site_starts", "site_pk", "starts_at"),
                      Index("ix_appointment_chair_starts", "chair_pk", "starts_at"))

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"),
                                            index=True)
    course_pk: Mapped[int | None] = mapped_column(ForeignKey("course.pk", ondelete="RESTRICT"),
                                                  default=None)
    kind: Mapped[str] = mapped_column(String(20))
    chair_pk: Mapped[int | None] = mapped_column(ForeignKey("chair.pk", ondelete="RESTRICT"),
                                                 default=None)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=BOOKED)
    course_session: Mapped[int | None] = mapped_column(Integer, default=None)
    series_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    treatment_session_pk: Mapped[int | None] = mapped_column(
        ForeignKey("treatment_session.pk", ondelete="RESTRICT"), default=None)
    note: Mapped[str] = mapped_column(String(500), default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    late_cancel: Mapped[bool] = mapped_column(default=False)


class Reminder(RecordMixin, Base):
    """An email reminder for an appointment: pending until sent, retried, failed visibly."""

    __tablename__ = "appointment_reminder"
    __table_args__ = (Index("ix_reminder_status_due", "status", "next_attempt_at"),)

    appointment_pk: Mapped[int] = mapped_column(ForeignKey("appointment.pk", ondelete="RESTRICT"),
                                                index=True)
    to_address: Mapped[str] = mapped_column(String(254), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")  # sent, failed, cancelled
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CalendarFeed(RecordMixin, Base):
    """A secret iCalendar URL for a staff member or a patient; revoked, it answers 404."""

    __tablename__ = "calendar_feed"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_pk: Mapped[int | None] = mapped_column(ForeignKey("app_user.pk", ondelete="RESTRICT"),
                                                default=None)
    patient_pk: Mapped[int | None] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"),
                                                   default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
