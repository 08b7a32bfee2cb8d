"""Courses: started at sign-off, read as typed plans and doses, moved between states with reasons."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.courses.models import (
    EXTENDED,
    INDUCTION,
    MAINTENANCE,
    PLANNED,
    STATES,
    STOPPED,
    Course,
    CourseTransition,
    PlannedSession,
)
from ketaclinic.errors import NotFound
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import courses as course_rules
from ketaclinic.knowledge import dosing
from ketaclinic.knowledge.dosing import Dose
from ketaclinic.knowledge.ruleset import RuleSet

# The end-of-induction decisions and the state each moves the course to.
STATE_AFTER_DECISION = {"extend": EXTENDED, "continue-maintenance": MAINTENANCE, "stop": STOPPED}


def start(*, db: Session, evaluation_id: uuid.UUID, evaluation_pk: int, patient_pk: int,
          route: str, indication: str, dose: Dose, plan: course_rules.CoursePlan | None,
          actor: Actor, patient_id: str) -> Course:
    """The course a prescriber's signature starts: the signed dose and, if planned, its dated
    sessions; audited."""
    now = clock.now()
    course = Course(id=evaluation_id, patient_pk=patient_pk, evaluation_pk=evaluation_pk,
                    route=route, indication=indication, prescriber=actor.username, signed_at=now,
                    state=PLANNED, dose=dose, created_by=actor.username)
    if plan is not None:
        course.maintenance = plan.maintenance
        course.plan_source = plan.source
        course.closed_weekdays = list(plan.closed_weekdays)
        course.sessions = [PlannedSession(number=s.number, phase=s.phase, week=s.week,
                                          planned_on=s.day, created_by=actor.username)
                           for s in plan.sessions]
    db.add(course)
    db.flush()
    db.add(CourseTransition(course_pk=course.pk, from_state=None, to_state=PLANNED, at=now,
                            reason="signed to start", created_by=actor.username))
    audit.record(db=db, actor=actor, action="create", record_type="Course", record_id=course.id,
                 patient_id=patient_id, detail=f"{route} course for {indication}, "
                 f"{len(course.sessions)} planned sessions")
    return course


def move(*, db: Session, course: Course, to_state: str, reason: str, actor: Actor,
         patient_id: str, at: datetime | None = None) -> None:
    """Move the course to another state, dated (now unless the event happened earlier), with the
    reason; audited. Nothing to do if it is already there."""
    if to_state not in STATES:
        raise ValueError(f"unknown course state {to_state!r}")
    if course.state == to_state:
        return
    db.add(CourseTransition(course_pk=course.pk, from_state=course.state, to_state=to_state,
                            at=at or clock.now(), reason=reason, created_by=actor.username))
    audit.record(db=db, actor=actor, action="update", record_type="Course", record_id=course.id,
                 patient_id=patient_id, detail=f"{course.state} -> {to_state}: {reason}")
    course.state = to_state
    db.flush()


def dose_given(*, db: Session, course: Course, actor: Actor, patient_id: str,
               at: datetime | None = None) -> None:
    """A dose was given (at `at`, default now): a planned course is now in induction."""
    if course.state == PLANNED:
        move(db=db, course=course, to_state=INDUCTION, reason="first dose given", actor=actor,
             patient_id=patient_id, at=at)


def decided(*, db: Session, course: Course, decision: str, actor: Actor, patient_id: str) -> None:
    """The prescriber's end-of-induction decision moves the course on."""
    move(db=db, course=course, to_state=STATE_AFTER_DECISION[decision],
         reason=f"end-of-induction review: {decision}", actor=actor, patient_id=patient_id)


def by_pk(db: Session, course_pk: int) -> Course:
    """The course with this key."""
    return db.execute(select(Course).where(Course.pk == course_pk)).scalar_one()


def of_evaluation(db: Session, evaluation_pk: int) -> Course | None:
    """The course a signed evaluation started, if it started one."""
    return db.execute(select(Course).where(Course.evaluation_pk == evaluation_pk)
                      ).scalar_one_or_none()


def of_patient(db: Session, patient_pk: int, course_id: object) -> Course:
    """One of the patient's courses by its public id; NotFound otherwise."""
    try:
        key = course_id if isinstance(course_id, uuid.UUID) else uuid.UUID(str(course_id))
    except ValueError:
        raise NotFound("no such course") from None
    found = db.execute(select(Course).where(Course.id == key, Course.patient_pk == patient_pk)
                       ).scalar_one_or_none()
    if found is None:
        raise NotFound("no such course")
    return found


def courses_of(db: Session, patient_pk: int, *, planned_only: bool = False) -> Sequence[Course]:
    """The patient's courses, newest first (only those with a dated plan if asked)."""
    query = select(Course).where(Course.patient_pk == patient_pk)
    if planned_only:
        query = query.where(Course.plan_source.is_not(None))
    return db.execute(query.order_by(Course.signed_at.desc(), Course.pk.desc())).scalars().all()


def latest(db: Session, patient_pk: int) -> Course | None:
    """The patient's most recently signed course, if any."""
    return db.execute(select(Course).where(Course.patient_pk == patient_pk)
                      .order_by(Course.signed_at.desc(), Course.pk.desc()).limit(1)
                      ).scalar_one_or_none()


def plan_of(course: Course) -> course_rules.CoursePlan | None:
    """The course's dated plan, or None if it was signed without one."""
    if course.plan_source is None:
        return None
    return course_rules.CoursePlan(
        course.route, course.indication,
        tuple(course_rules.PlannedSession(s.number, s.planned_on, s.phase, s.week)
              for s in course.sessions),
        course.maintenance or "", course.plan_source, tuple(course.closed_weekdays or ()))


def plan_data(course: Course | None) -> dict[str, Any] | None:
    """The plan as it is sent on the wire."""
    plan = plan_of(course) if course else None
    return plan.as_dict() if plan else None


def dose_data(course: Course | None) -> dict[str, Any] | None:
    """The signed dose as it is sent on the wire."""
    return course.dose.as_dict() if course and course.dose else None


def session_data(planned: PlannedSession) -> dict[str, Any]:
    """One planned session as it is sent on the wire."""
    return {"number": planned.number, "date": planned.planned_on.isoformat(),
            "weekday": course_rules.WEEKDAYS[planned.planned_on.weekday()], "week": planned.week,
            "phase": planned.phase}


def induction_count(course: Course) -> int:
    """How many sessions the course's first (induction) phase plans."""
    if not course.sessions:
        return 0
    first = course.sessions[0].phase
    return sum(1 for s in course.sessions if s.phase == first)


def occasion_on(course: Course, day: date) -> str | None:
    """Which questionnaire occasion the course's plan has on a day (None: none): the baseline at
    the first session, before each planned session, the day after the last induction session."""
    days = [s.planned_on for s in course.sessions]
    if not days:
        return None
    if day == days[0]:
        return "baseline"
    induction = induction_count(course)
    if induction and day == days[min(induction, len(days)) - 1] + timedelta(days=1):
        return "end-of-induction"
    return "before-session" if day in days else None


@dataclass(frozen=True)
class ChairDose:
    """The dose for today at the chair: the signed dose, and today's recalculation by weight."""

    signed: Dose | None
    today: Dose | None
    signed_weight_kg: float | None
    today_weight_kg: float | None
    problem: str = ""
    # Today's weight is too far from the signed one to dose from (see `weight_kg`).
    weight_doubted: bool = False

    @property
    def weights_differ(self) -> bool:
        """Whether today's weight, as charted (to 0.1 kg), is not the weight the dose was signed
        at."""
        return (self.signed_weight_kg is not None and self.today_weight_kg is not None
                and round(self.signed_weight_kg, 1) != round(self.today_weight_kg, 1))

    @property
    def dose_mg(self) -> float | None:
        """The dose to draw up today: today's recalculation where there is one."""
        chosen = self.today or self.signed
        return chosen.dose_mg if chosen else None

    @property
    def weight_kg(self) -> float | None:
        """The weight to check a given dose against: today's, else (or when today's is too far
        from it to dose from) the signed one."""
        if self.weight_doubted:
            return self.signed_weight_kg
        return self.today_weight_kg or self.signed_weight_kg


def chair_dose(course: Course, today_weight_kg: float | None, ruleset: RuleSet) -> ChairDose:
    """The signed dose recalculated from today's weight when the route is dosed by weight (the
    signed mg/kg at today's weight, through the same limits, on the clinic's rule set); a
    recalculation the limits refuse, or a weight too far from the signed one to dose from, is
    shown as the problem and the signed dose stays."""
    signed = course.dose
    signed_weight = signed.weight_kg if signed else None
    if signed is None or signed.mg_per_kg is None or today_weight_kg is None \
            or signed_weight is None:
        return ChairDose(signed, None, signed_weight, today_weight_kg)
    doubt = dosing.weight_change_problem(signed_weight, today_weight_kg,
                                         "the weight the dose was signed at", ruleset)
    if doubt:
        return ChairDose(signed, None, signed_weight, today_weight_kg,
                         f"Today's weight {doubt}. The signed dose at {signed_weight:g} kg stands "
                         "until the weight is corrected; another dose is the prescriber's to order.",
                         weight_doubted=True)
    try:
        # An infusion by the hour was signed as a rate; every other route as mg/kg.
        per_kg = signed.mg_per_kg_per_h if signed.mg_per_kg_per_h is not None \
            else signed.mg_per_kg
        today = dosing.calculate(route=course.route, weight_kg=today_weight_kg,
                                 indication=course.indication, mg_per_kg=per_kg,
                                 override_reason=signed.override_reason, ruleset=ruleset)
    except dosing.DoseRefused as exc:
        return ChairDose(signed, None, signed_weight, today_weight_kg, exc.message)
    return ChairDose(signed, today, signed_weight, today_weight_kg)
