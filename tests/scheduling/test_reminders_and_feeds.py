"""Reminders delivered to a real SMTP server (and retried, then failed visibly, when it is down);
iCalendar feeds that parse, hold exactly the booked appointments, and 404 once revoked."""

import email as email_parser
import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic import mail as email
from ketaclinic.auth.models import User
from ketaclinic.scheduling import booking, calendar, reminders
from ketaclinic.scheduling.models import Reminder
from tests.scheduling.helpers import (
    DESK,
    a_monday_ahead,
    course,
    sender_to,
    staffed_site,
    weekday_ahead_at,
)
from tests.server_helpers import free_port

NEW_YORK = ZoneInfo("America/New_York")


class Mailbox:
    """An aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    from aiosmtpd.controller import Controller

    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler
    controller.stop()


def test_reminder_reaches_smtp_with_ride_home_and_a_working_questionnaire_link(
        db: Session, world, anon, smtp, clinic_clock) -> None:
    port, mailbox = smtp
    site = staffed_site(db)
    starts = weekday_ahead_at(10)
    clinic_clock.move_to(starts - timedelta(hours=26))  # booked the morning before
    evaluation, patient = course(db, "esketamine", starts.date())
    patient.email = "pat@example.org"
    made = booking.book(db=db, site=site, patient=patient, kind="esketamine", starts_at=starts,
                        actor=DESK, course=evaluation, course_session=1)
    [pending] = db.execute(select(Reminder)).scalars().all()
    assert pending.status == "pending"
    assert pending.next_attempt_at == starts - timedelta(hours=24)
    email.use_sender(sender_to(port))
    try:
        [sent] = reminders.send_due(db, now=starts - timedelta(hours=20))
    finally:
        email.use_sender(None)
    assert sent.status == "sent" and sent.attempts == 1
    [raw] = mailbox.messages
    message = email_parser.message_from_bytes(raw)
    body = next(p for p in message.walk() if p.get_content_type() == "text/plain"
                ).get_payload(decode=True).decode()
    assert "Arrange for someone to drive you home" in body
    assert "Do not eat for 2 hours" in body  # esketamine
    assert f"{starts:%H:%M}" in body
    ics = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    [event] = Calendar.from_ical(ics.get_payload(decode=True)).walk("VEVENT")
    assert event["uid"] == f"{made.id}@ketaclinic"
    link = re.search(r"http://\S+/q/([A-Za-z0-9_-]+)", body)
    assert link, body
    form = anon.get(f"/q/{link.group(1)}")
    assert form.status_code == 200 and "PHQ-9" in form.text


def test_a_booking_inside_the_reminder_lead_is_reminded_at_once(db: Session, world,
                                                                clinic_clock) -> None:
    site = staffed_site(db)
    starts = weekday_ahead_at(15)
    clinic_clock.move_to(starts - timedelta(hours=3))
    _, patient = course(db, "iv", starts.date())
    patient.email = "pat@example.org"
    booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=starts, actor=DESK)
    [pending] = db.execute(select(Reminder)).scalars().all()
    booked_at = clock.now()
    assert booked_at - timedelta(minutes=1) <= pending.next_attempt_at <= booked_at


def test_a_failing_mail_server_is_retried_then_shown_failed(db: Session, world) -> None:
    site = staffed_site(db)
    starts = weekday_ahead_at(11)
    _, patient = course(db, "iv", starts.date())
    patient.email = "pat@example.org"
    booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=starts, actor=DESK)
    email.use_sender(sender_to(free_port()))  # nothing listens there
    now = starts - timedelta(hours=23)
    try:
        for attempt in range(1, 6):
            [tried] = reminders.send_due(db, now=now)
            assert tried.attempts == attempt and "could not be reached" in tried.last_error
            now = tried.next_attempt_at
    finally:
        email.use_sender(None)
    [failed] = db.execute(select(Reminder)).scalars().all()
    assert failed.status == "failed" and failed.attempts == 5
    assert reminders.send_due(db, now=now + timedelta(hours=1)) == []


def test_feeds_parse_hold_exactly_the_booked_appointments_and_404_when_revoked(
        db: Session, world, anon) -> None:
    site = staffed_site(db)
    monday = a_monday_ahead()
    evaluation, patient = course(db, "iv", monday)
    proposal = booking.propose_series(db=db, site=site, course=evaluation, at=time(9))
    made = booking.book_series(db=db, site=site, course=evaluation, patient=patient,
                               slots=[(p.course_session, p.starts_at) for p in proposal],
                               actor=DESK)
    _, other = course(db, "iv", monday, patient_key=1)
    someone_else = booking.book(db=db, site=site, patient=other, kind="iv",
                                starts_at=datetime.combine(monday + timedelta(days=1), time(9),
                                                           tzinfo=NEW_YORK), actor=DESK)
    booking.cancel(db=db, appointment=made[5], reason="patient travelling", patient=patient,
                   actor=DESK)
    feed, url = calendar.create_feed(db=db, actor=DESK, patient=patient)
    path = url.removeprefix("http://127.0.0.1:8000")
    response = anon.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert sorted(str(e["uid"]) for e in events) == sorted(f"{a.id}@ketaclinic" for a in made[:5])
    first = min(events, key=lambda e: e.decoded("dtstart"))
    assert first.decoded("dtstart") == made[0].starts_at
    nurse = db.execute(select(User).where(User.username == "nurse_a")).scalar_one()
    _, nurse_url = calendar.create_feed(db=db, actor=DESK, user=nurse)
    staff = Calendar.from_ical(anon.get(nurse_url.removeprefix("http://127.0.0.1:8000")).content)
    assert {str(e["uid"]) for e in staff.walk("VEVENT")} == {
        f"{a.id}@ketaclinic" for a in [*made[:5], someone_else]}
    calendar.revoke(db=db, feed=feed, actor=DESK)
    assert anon.get(path).status_code == 404
    assert anon.get("/calendar/not-a-token.ics").status_code == 404
