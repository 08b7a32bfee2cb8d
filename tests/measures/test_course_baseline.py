"""A course's baseline is a score from before treatment. When the form was skipped before the
first session and the first score came after the first dose, the end-of-induction card judged
a response from it: a fall from a score the first infusion had already lowered understates the
response, and the card could call non-responder a course that worked."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Chair, Site
from ketaclinic.courses import service as courses
from ketaclinic.kernel.actor import Actor
from ketaclinic.measures import service as measures
from ketaclinic.measures import trajectory
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import TreatmentSession
from tests.course_rows import signed_course

NEW_YORK = ZoneInfo("America/New_York")
NURSE = Actor(username="nurse_a", role="nurse")


def _phq9(total: int) -> list[int]:
    answers = [0] * 9
    for item in range(total):
        answers[item % 8] += 1  # item 9 stays 0
    return answers


def _course_with_scores(db: Session, first_score_after_dose: bool) -> trajectory.CourseView:
    patient = db.execute(select(Patient).order_by(Patient.pk).limit(1)).scalar_one()
    site = db.execute(select(Site).where(Site.code == "A")).scalar_one()
    chair = db.execute(select(Chair).where(Chair.site_pk == site.pk)).scalars().first()
    assert chair is not None
    course = signed_course(db, patient.pk, "iv", start=date(2026, 10, 5),
                           signed_at=datetime(2026, 10, 1, 15, tzinfo=UTC))
    days = [s.planned_on for s in course.sessions][:courses.induction_count(course)]
    for day in days:
        dosed = datetime.combine(day, time(10), tzinfo=NEW_YORK)
        db.add(TreatmentSession(patient_pk=patient.pk, course_pk=course.pk, site_pk=site.pk,
                                chair_pk=chair.pk, route="iv", status="discharged",
                                checked_in_at=dosed - timedelta(minutes=30), dose_start=dosed,
                                dose_end=dosed + timedelta(minutes=40), created_by="test"))
    db.flush()
    first = datetime.combine(days[0], time(9 if not first_score_after_dose else 13),
                             tzinfo=NEW_YORK)
    scores = [(first, 14)] + [(datetime.combine(day, time(9), tzinfo=NEW_YORK), 10)
                              for day in days[1:]]
    scores.append((datetime.combine(days[-1] + timedelta(days=1), time(9), tzinfo=NEW_YORK), 6))
    for taken, total in scores:
        measures.record(db=db, patient=patient, instrument="phq9", answers=_phq9(total),
                        source="staff", actor=NURSE, taken_at=taken)
    db.flush()
    return trajectory.course_view(db, course, "America/New_York")


def test_a_first_score_after_the_first_dose_is_no_baseline(db: Session, world) -> None:
    view = _course_with_scores(db, first_score_after_dose=True)
    assert view.baseline_missing and view.lines is None and view.relapse is None
    assert view.card is not None and view.card.state == "not-assessable"
    assert "before the first session" in view.card.advice
    assert "50 % fall from baseline" in view.card.sources[0]


def test_a_score_before_the_first_dose_is_the_baseline(db: Session, world) -> None:
    view = _course_with_scores(db, first_score_after_dose=False)
    assert not view.baseline_missing and view.lines is not None and view.lines.baseline == 14
    assert view.card is not None and view.card.state == "responder"


def test_the_page_says_there_is_no_baseline(web, db: Session, world) -> None:
    view = _course_with_scores(db, first_score_after_dose=True)
    db.commit()
    patient = db.execute(select(Patient).where(Patient.pk == view.course.patient_pk)).scalar_one()
    page = web["nurse_a"].get(f"/patients/{patient.id}/measures")
    assert page.status_code == 200, page.text
    assert 'id="baseline-missing"' in page.text and "came after it" in page.text
    card = page.text.split('id="review-card"', 1)[1].split("</div>", 1)[0]
    assert "not-assessable" in card and " % fall." not in card and " % fall," not in card
