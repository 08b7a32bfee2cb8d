"""Tables for courses: the course with its signed dose, its planned sessions and its transitions."""

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketaclinic.db import Base, RecordMixin, TypedJSON, UTCDateTime
from ketaclinic.knowledge.dosing import Dose

PLANNED, INDUCTION, EXTENDED, MAINTENANCE, STOPPED = (
    "planned", "induction", "extended", "maintenance", "stopped")
STATES = (PLANNED, INDUCTION, EXTENDED, MAINTENANCE, STOPPED)


class Course(RecordMixin, Base):
    """A course of treatment started by a prescriber's signed evaluation.

    Its public id is the id of the evaluation that started it, so a course's address stays the
    address clinicians already use."""

    __tablename__ = "course"

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    evaluation_pk: Mapped[int] = mapped_column(ForeignKey("evaluation.pk", ondelete="RESTRICT"),
                                               unique=True)
    route: Mapped[str] = mapped_column(String(20))
    indication: Mapped[str] = mapped_column(String(20))
    prescriber: Mapped[str] = mapped_column(String(150))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default=PLANNED)
    dose: Mapped[Dose | None] = mapped_column(TypedJSON(Dose), default=None)
    # The plan's maintenance rule and sources; None when the course was signed with no plan.
    maintenance: Mapped[str | None] = mapped_column(String(1000), default=None)
    plan_source: Mapped[str | None] = mapped_column(String(1000), default=None)
    closed_weekdays: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    sessions: Mapped[list["PlannedSession"]] = relationship(
        order_by="PlannedSession.number", lazy="selectin", back_populates="course")
    # Read only where a course's history is shown, so loaded when asked for.
    transitions: Mapped[list["CourseTransition"]] = relationship(
        order_by="CourseTransition.at", viewonly=True)


class PlannedSession(RecordMixin, Base):
    """One dated session of a course's plan."""

    __tablename__ = "planned_session"
    __table_args__ = (UniqueConstraint("course_pk", "number"),)

    course_pk: Mapped[int] = mapped_column(ForeignKey("course.pk", ondelete="RESTRICT"))
    number: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(40))
    week: Mapped[int] = mapped_column(Integer)
    planned_on: Mapped[date] = mapped_column(Date)
    course: Mapped[Course] = relationship(back_populates="sessions")


class CourseTransition(RecordMixin, Base):
    """A dated change of a course's state, who made it and why."""

    __tablename__ = "course_transition"

    course_pk: Mapped[int] = mapped_column(ForeignKey("course.pk", ondelete="RESTRICT"),
                                           index=True)
    from_state: Mapped[str | None] = mapped_column(String(20), default=None)
    to_state: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(1000))
