"""The scheduling pages through their forms: book a course from its page, move one session,
errors shown with nothing saved; the day and week views; roles kept out."""

import html
import re
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.scheduling import booking
from ketaclinic.scheduling.models import Appointment
from tests.conftest import csrf_of
from tests.scheduling.helpers import DESK, NEW_YORK, a_monday_ahead, course, staffed_site

UNBOOKED = 'class="muted unbooked"'


def count(db: Session) -> int:
    return db.execute(select(func.count()).select_from(Appointment)).scalar_one()


def test_front_desk_books_a_course_and_moves_one_session(web, world, db: Session) -> None:
    staffed_site(db)
    monday = a_monday_ahead()
    evaluation, patient = course(db, "iv", monday)
    desk = web["frontdesk"]
    chart = desk.get(f"/patients/{patient.id}")
    assert 'id="appointments-link"' in chart.text
    listing = desk.get(f"/patients/{patient.id}/appointments")
    assert f"/courses/{evaluation.id}/booking" in listing.text
    url = f"/patients/{patient.id}/courses/{evaluation.id}/booking"
    page = desk.get(url)
    assert page.text.count(UNBOOKED) == 6
    csrf = csrf_of(page.text)
    bad = desk.post(f"{url}/proposal", data={"csrf_token": csrf, "site": "A", "at": "25:00"})
    assert bad.status_code == 422 and "At:" in html.unescape(bad.text)
    proposal = desk.post(f"{url}/proposal", data={"csrf_token": csrf, "site": "A", "at": "09:00"})
    assert proposal.status_code == 200 and 'id="series-form"' in proposal.text
    assert count(db) == 0  # a proposal saves nothing
    slots = dict(re.findall(r'name="(slot\.\d+)" value="([^"]+)" checked', proposal.text))
    assert len(slots) == 6
    booked = desk.post(f"{url}/series", data={"csrf_token": csrf, "site": "A", **slots})
    assert booked.status_code == 200 and booked.text.count(UNBOOKED) == 0
    assert count(db) == 6
    # The seeded patient has no email address: each reminder shows as failed, saying why.
    listing = desk.get(f"/patients/{patient.id}/appointments")
    assert listing.text.count("failed: the patient has no email address") == 6
    rows = db.execute(select(Appointment).order_by(Appointment.course_session)).scalars().all()
    before = {a.pk: a.starts_at for a in rows}
    move_url = f"{url}/{rows[1].id}/move"
    saturday, wednesday = monday + timedelta(days=5), monday + timedelta(days=2)
    refused = desk.post(move_url, data={"csrf_token": csrf, "day": str(saturday), "time": "09:00"})
    assert refused.status_code == 409 and "closed on Saturdays" in html.unescape(refused.text)
    moved = desk.post(move_url, data={"csrf_token": csrf, "day": str(wednesday), "time": "13:00"})
    assert moved.status_code == 200 and f"Wed {wednesday} 13:00" in moved.text
    db.expire_all()
    after = {a.pk: a.starts_at for a in db.execute(select(Appointment)).scalars()}
    assert [pk for pk in after if after[pk] != before[pk]] == [rows[1].pk]
    day = desk.get("/schedule", params={"site": "A", "day": str(wednesday)})
    assert day.status_code == 200 and "13:00\u201315:10" in day.text and "A1" in day.text
    week = desk.get("/schedule/week", params={"site": "A", "start": str(monday)})
    assert week.status_code == 200 and week.text.count('class="appt-line') == 3  # week 1
    assert desk.get("/schedule", params={"site": "A", "day": "someday"}).status_code == 422


def test_check_in_from_the_day_view_opens_the_treatment_session(web, world, db: Session,
                                                                clinic_clock) -> None:
    site = staffed_site(db)
    # A quarter to ten on a weekday morning; the patient is booked for ten.
    monday = a_monday_ahead()
    clinic_clock.move_to(datetime.combine(monday, time(9, 45), tzinfo=NEW_YORK))
    starts = datetime.combine(monday, time(10), tzinfo=NEW_YORK)
    evaluation, patient = course(db, "iv", starts.date())
    made = booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=starts,
                        actor=DESK, course=evaluation, course_session=1)
    nurse = web["nurse_a"]
    day_view = nurse.get("/schedule", params={"site": "A", "day": str(starts.date())})
    assert f'/appointments/{made.id}/check-in' in day_view.text
    opened = nurse.post(f"/appointments/{made.id}/check-in",
                        data={"csrf_token": csrf_of(day_view.text)}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"].startswith(
        "/treatment-sessions/")
    db.expire_all()
    assert db.get(Appointment, made.pk).status == "checked-in"
    assert web["frontdesk"].post(f"/appointments/{made.id}/check-in",
                                 data={"csrf_token": csrf_of(day_view.text)}).status_code == 403
    assert web["patient_a1"].get("/schedule").status_code == 403


def test_maintenance_and_attendance_pages(web, world, db: Session) -> None:
    staffed_site(db)
    monday = a_monday_ahead()
    evaluation, _ = course(db, "iv", monday)
    desk = web["frontdesk"]
    due = desk.get("/schedule/maintenance", params={"site": "A"})
    assert due.status_code == 200 and 'id="nothing-due"' in due.text
    bad = desk.post(f"/schedule/maintenance/{evaluation.id}/book", data={
        "csrf_token": csrf_of(due.text), "site": "A", "day": "soon", "time": "09:00"})
    assert bad.status_code == 422 and "Day: 'soon' is not a date" in html.unescape(bad.text)
    booked = desk.post(f"/schedule/maintenance/{evaluation.id}/book", data={
        "csrf_token": csrf_of(due.text), "site": "A", "day": str(monday + timedelta(days=1)),
        "time": "09:00"})
    assert booked.status_code == 200 and count(db) == 1
    report = desk.get("/schedule/attendance", params={
        "site": "A", "start": str(monday - timedelta(days=7)), "end": str(monday + timedelta(days=7))})
    assert report.status_code == 200 and "<dt>booked</dt><dd>1</dd>" in report.text
    assert web["patient_a1"].get("/schedule/attendance").status_code == 403
