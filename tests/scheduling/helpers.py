"""A site with hours, staff shifts and signed courses, for scheduling tests."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic import mail as email
from ketaclinic.clinics.models import Site
from ketaclinic.courses.models import Course
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import resources
from ketaclinic.settings import Settings
from tests.course_rows import signed_course

NEW_YORK = ZoneInfo("America/New_York")
DESK = Actor(username="frontdesk", role="front_desk")
ADMIN = Actor(username="admin", role="admin")


def a_monday_ahead(zone: ZoneInfo = NEW_YORK) -> date:
    """A Monday at least two days after the clinic's today."""
    day = clock.today(zone) + timedelta(days=2)
    return day + timedelta(days=-day.weekday() % 7)


def monday_before_spring_forward(zone: ZoneInfo = NEW_YORK) -> date:
    """The Monday of the week before the next change to summer time in the zone that is still
    ahead of the clinic's clock (the change itself falls on the Sunday six days later)."""
    day = clock.today(zone) + timedelta(days=8)
    while True:
        noon_before = datetime.combine(day - timedelta(days=1), time(12), tzinfo=zone)
        noon = datetime.combine(day, time(12), tzinfo=zone)
        if noon.utcoffset() > noon_before.utcoffset():  # type: ignore[operator]
            return day - timedelta(days=6)
        day += timedelta(days=1)


def weekday_ahead_at(hour: int) -> datetime:
    """The first weekday at least two days ahead, at a local hour in New York."""
    day = clock.today(NEW_YORK) + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(hour), tzinfo=NEW_YORK)


def sender_to(port: int) -> email.SmtpSender:
    """A mail sender to a server on this machine's port (none listening: every send fails)."""
    return email.SmtpSender(Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                                     public_url="http://testserver"))


def staffed_site(db: Session, code: str = "A") -> Site:
    """Site A open Monday to Friday 08:00-18:00 with nurse_a and the prescriber on shift."""
    site = db.execute(select(Site).where(Site.code == code)).scalar_one()
    for day in ("mon", "tue", "wed", "thu", "fri"):
        resources.add_shift(db=db, site=site, username="nurse_a", day=day, starts=time(8),
                            ends=time(18), actor=ADMIN)
        resources.add_shift(db=db, site=site, username="prescriber", day=day, starts=time(8),
                            ends=time(18), actor=ADMIN)
    return site


def course(db: Session, route: str, start: date, patient_key: int = 0) -> tuple[Course, Patient]:
    """A signed course for a seeded patient with its dated plan."""
    patient = db.execute(select(Patient).order_by(Patient.pk)).scalars().all()[patient_key]
    return signed_course(db, patient.pk, route, start=start), patient
