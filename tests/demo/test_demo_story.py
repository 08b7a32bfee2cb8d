"""The demo's story hangs together in time: patients were registered at their first visit, each
course was evaluated, signed and consented before its first session, and an alert was raised when
the patient answered, not when the demo was seeded."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.courses.models import Course
from ketaclinic.evaluations.models import Consent, Evaluation
from ketaclinic.measures.models import Measure, MeasureAlert
from ketaclinic.patients.models import Patient


def test_the_demo_s_dates_tell_one_story(demo_db: Session, seeded_at: datetime) -> None:
    db = demo_db
    today = seeded_at.date()
    registered_today = [p for p in db.execute(select(Patient)).scalars()
                        if p.created_at.date() >= today]
    assert len(registered_today) <= 1  # the portal patient's record at most, not all
    courses = db.execute(select(Evaluation, Course).join(
        Course, Course.evaluation_pk == Evaluation.pk)).all()
    assert courses
    for course, started in courses:
        first = started.sessions[0].planned_on
        assert course.screened_on < first and course.signed_at is not None
        assert course.signed_at.date() < first
        consents = db.execute(select(Consent).where(Consent.patient_pk == course.patient_pk)
                              ).scalars().all()
        assert any(c.given_on <= course.screened_on for c in consents), course.pk
    alerts = db.execute(select(MeasureAlert, Measure).join(
        Measure, Measure.pk == MeasureAlert.measure_pk)).all()
    assert alerts
    assert all(alert.raised_at == measure.taken_at for alert, measure in alerts)
