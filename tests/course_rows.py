"""A signed course written straight into the database, for tests that need one to exist."""

from datetime import date, datetime

from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.courses.models import Course, PlannedSession
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.knowledge import courses


def signed_course(db: Session, patient_pk: int, route: str = "iv", *, start: date | None = None,
                  signed_at: datetime | None = None, screened_on: date | None = None) -> Course:
    """An evaluation signed to start and the course it started (with a dated plan from `start`)."""
    signed_at = signed_at or clock.now()
    evaluation = Evaluation(patient_pk=patient_pk, route=route, indication="depression",
                            screened_on=screened_on or signed_at.date(), decision="eligible",
                            ruleset_version="t", overrides={}, findings=[], status="signed",
                            signed_decision="start", signed_by="prescriber", signed_at=signed_at,
                            created_by="test")
    db.add(evaluation)
    db.flush()
    course = Course(id=evaluation.id, patient_pk=patient_pk, evaluation_pk=evaluation.pk,
                    route=route, indication="depression", prescriber="prescriber",
                    signed_at=signed_at, created_by="test")
    if start is not None:
        plan = courses.plan(route=route, start=start)
        course.maintenance, course.plan_source = plan.maintenance, plan.source
        course.closed_weekdays = list(plan.closed_weekdays)
        course.sessions = [PlannedSession(number=s.number, phase=s.phase, week=s.week,
                                          planned_on=s.day, created_by="test")
                           for s in plan.sessions]
    db.add(course)
    db.flush()
    return course
