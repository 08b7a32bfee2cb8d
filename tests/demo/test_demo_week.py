"""The demo clinic's weeks read like a clinic's: about 60 % of this week's chair slots booked,
today's visits checked in and under way (one with an open alarm), the sessions given charged and
mostly paid, one payment plan, an esketamine authorisation about to end, the portal patient with
visits ahead, a superbill and a receipt, and the same clinic every time it is seeded."""

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic import db as dbmod
from ketaclinic import migrate
from ketaclinic.auth.models import User
from ketaclinic.billing import superbill
from ketaclinic.billing.models import Coverage, Invoice, Payment, PaymentPlan, PriorAuthorization
from ketaclinic.clinics.models import Site
from ketaclinic.courses.models import Course
from ketaclinic.demo import seed as demo_seed
from ketaclinic.demo import week
from ketaclinic.evaluations.models import Consent, Evaluation
from ketaclinic.patients.models import Patient
from ketaclinic.portal import pages as portal
from ketaclinic.scheduling import availability
from ketaclinic.scheduling.models import CHECKED_IN, Appointment
from ketaclinic.treatments.models import DISCHARGED, OPEN, SessionAlarm, TreatmentSession
from tests.demo.moments import working_morning

RIVERSIDE = ZoneInfo("America/Chicago")


def _local_day(site: Site, moment: datetime) -> date:
    return moment.astimezone(availability.zone_of(site)).date()


def _sites(db: Session) -> list[Site]:
    return list(db.execute(select(Site).order_by(Site.pk)).scalars())


def test_this_week_books_about_sixty_percent_of_the_chair_slots(demo_db: Session,
                                                                 seeded_at: datetime) -> None:
    db = demo_db
    for site in _sites(db):
        today = _local_day(site, seeded_at)
        days = [today - timedelta(days=today.weekday()) + timedelta(days=n) for n in range(5)]
        opening = availability.hours(db, site)
        slots = sum(len(week.chair_slots(site, day, opening)) for day in days)
        booked = sum(1 for a in db.execute(select(Appointment).where(
            Appointment.site_pk == site.pk, Appointment.kind == "iv")).scalars()
            if _local_day(site, a.starts_at) in days)
        assert 0.45 <= booked / slots <= 0.75, (site.code, booked, slots)


def test_today_has_visits_checked_in_under_way_and_one_open_alarm(demo_db: Session,
                                                                   seeded_at: datetime) -> None:
    db = demo_db
    for site in _sites(db):
        today = [a for a in db.execute(select(Appointment).where(
            Appointment.site_pk == site.pk)).scalars()
            if _local_day(site, a.starts_at) == _local_day(site, seeded_at)]
        assert {a.status for a in today} >= {CHECKED_IN, "booked"}, site.code
        assert {a.kind for a in today} >= {"iv", "follow-up", "integration"}, site.code
        under_way = db.execute(select(TreatmentSession).where(
            TreatmentSession.site_pk == site.pk, TreatmentSession.status == OPEN)).scalars().all()
        assert under_way, site.code
        linked = {a.treatment_session_pk for a in today if a.status == CHECKED_IN}
        assert {s.pk for s in under_way} <= linked
        assert all(s.checked_in_at <= seeded_at for s in under_way)
    open_alarms = db.execute(select(SessionAlarm).where(
        SessionAlarm.acknowledged_at.is_(None))).scalars().all()
    assert len({a.session_pk for a in open_alarms}) == 1


def test_what_was_given_is_charged_mostly_paid_with_one_plan_and_an_authorisation_ending(
        demo_db: Session, seeded_at: datetime) -> None:
    db = demo_db
    given = db.execute(select(TreatmentSession.pk).where(
        TreatmentSession.status == DISCHARGED)).scalars().all()
    charged = db.execute(select(Invoice.session_pk)).scalars().all()
    assert sorted(charged) == sorted(given) and len(given) > 60
    payments = db.execute(select(Payment)).scalars().all()
    assert 0.5 * len(charged) <= len(payments) < len(charged)
    assert all(p.received_at <= seeded_at for p in payments)
    assert len(db.execute(select(PaymentPlan)).scalars().all()) == 1
    authorisation, cover = db.execute(select(PriorAuthorization, Coverage).join(
        Coverage, Coverage.pk == PriorAuthorization.coverage_pk)).one()
    assert authorisation.route == "esketamine" and authorisation.status == "approved"
    assert authorisation.ends_on is not None
    assert 0 < (authorisation.ends_on - seeded_at.date()).days <= 14
    assert db.execute(select(Evaluation).where(
        Evaluation.patient_pk == cover.patient_pk, Evaluation.route == "esketamine",
        Evaluation.signed_decision == "start")).scalar_one()


def test_the_portal_patient_has_visits_ahead_a_superbill_and_a_receipt(
        demo_db: Session, seeded_at: datetime) -> None:
    db = demo_db
    user = db.execute(select(User).where(User.username == demo_seed.DEMO_PATIENT_USERNAME)
                      ).scalar_one()
    patient = db.get(Patient, user.patient_pk)
    assert patient is not None
    with time_machine.travel(seeded_at, tick=False):
        shown = portal.context(db, patient)
    assert shown["upcoming"] and shown["invoices"] and shown["receipts"]
    assert superbill.render(db, shown["invoices"][0]).startswith(b"%PDF")
    assert superbill.receipt(db, shown["receipts"][0]).startswith(b"%PDF")


def test_every_session_follows_its_course_s_signature_and_a_consent(demo_db: Session) -> None:
    db = demo_db
    for session, course in db.execute(select(TreatmentSession, Course).join(
            Course, Course.pk == TreatmentSession.course_pk)).all():
        assert course.signed_at is not None and course.signed_at < session.checked_in_at
        consents = db.execute(select(Consent.given_on).where(
            Consent.patient_pk == session.patient_pk)).scalars().all()
        assert any(given <= session.checked_in_at.date() for given in consents), session.pk


def _appointments(db: Session) -> list[tuple[object, ...]]:
    return sorted((p.family_name, p.given_name, a.kind, a.starts_at, a.chair_pk, a.status)
                  for a, p in db.execute(select(Appointment, Patient).join(
                      Patient, Patient.pk == Appointment.patient_pk)).all())


def test_seeding_at_the_same_moment_gives_the_same_clinic(demo_db: Session, seeded_at: datetime,
                                                          tmp_path: Path) -> None:
    engine = dbmod.make_engine(f"sqlite:///{tmp_path}/again.db")
    migrate.upgrade(engine)
    with Session(engine) as again:
        with time_machine.travel(seeded_at, tick=False):
            demo_seed.seed(again, patients_count=50)
        assert _appointments(again) == _appointments(demo_db)
        assert sorted(again.execute(select(Invoice.total_cents)).scalars()) == sorted(
            demo_db.execute(select(Invoice.total_cents)).scalars())
    engine.dispose()


def test_every_course_with_a_dose_given_has_moved_on_from_planned(demo_db: Session) -> None:
    db = demo_db
    first_dose = dict(db.execute(select(TreatmentSession.course_pk,
                                        func.min(TreatmentSession.dose_start))
                                 .where(TreatmentSession.dose_start.is_not(None))
                                 .group_by(TreatmentSession.course_pk)).all())
    assert first_dose
    for course in db.execute(select(Course)).scalars():
        if course.pk not in first_dose:
            assert course.state == "planned", course.pk
            continue
        assert course.state != "planned", course.pk
        induction = next(t for t in course.transitions if t.to_state == "induction")
        assert induction.at == first_dose[course.pk] and induction.reason == "first dose given"


def test_seeding_that_runs_past_a_visit_s_start_still_books_it(tmp_path: Path) -> None:
    # The week is planned at the moment seeding starts; Riverside's follow-up at 11:30 is booked
    # then, although the clock has run past 11:30 by the time the booking is made.
    start = datetime.combine(working_morning().date(), time(11, 29, 59), tzinfo=RIVERSIDE)
    engine = dbmod.make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    migrate.upgrade(engine)
    with Session(engine) as db, time_machine.travel(start, tick=False) as traveller:
        real_book = week.booking.book

        def book_later(**kwargs: object) -> Appointment:
            traveller.shift(timedelta(seconds=2))  # the clock runs on while the week is built
            return real_book(**kwargs)  # type: ignore[arg-type]

        week.booking.book = book_later  # type: ignore[assignment]
        try:
            demo_seed.seed(db, patients_count=6)
        finally:
            week.booking.book = real_book  # type: ignore[assignment]
        follow_up = db.execute(select(Appointment).where(
            Appointment.kind == "follow-up",
            Appointment.starts_at == start + timedelta(seconds=1))).scalar_one()
        assert follow_up.status == "booked"
    engine.dispose()
