"""An escalated alert is emailed to the site's on-call clinician (a real SMTP server), retried when
the server is down, shown failed with the reason when nobody can be reached, and never sent for
an alert already followed up."""

import email as email_parser
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic import mail as email
from ketaclinic.auth.models import User
from ketaclinic.clinics.models import Site
from ketaclinic.errors import Conflict, InvalidInput
from ketaclinic.kernel.actor import Actor
from ketaclinic.measures import alerts, on_call, rota_pages
from ketaclinic.measures.models import MeasureAlert
from tests.measures.test_measures_api import _post
from tests.scheduling.test_reminders_and_feeds import sender_to, smtp  # noqa: F401 (fixture)
from tests.server_helpers import free_port
from tests.treatments.test_ingest import signed_evaluation

ADMIN = Actor(username="admin", role="admin")
HIGH_RISK = [1, 1, 1, 1, 1, 0, None]


def site_a(db: Session) -> Site:
    return db.execute(select(Site).where(Site.code == "A")).scalar_one()


def user(db: Session, username: str) -> User:
    return db.execute(select(User).where(User.username == username)).scalar_one()


def escalated_high_risk_alert(api, world, db: Session) -> MeasureAlert:
    pid = world.patients["p_a1"]
    signed_evaluation(api, pid)
    [raised] = _post(api["nurse_a"], pid, "cssrs", HIGH_RISK).json()["alerts"]
    assert raised["severity"] == "immediate"
    [alert] = alerts.escalate_overdue(db=db, actor=alerts.ESCALATOR,
                                      now=clock.now() + timedelta(minutes=31))
    assert alert.notice_status == alerts.NOTICE_PENDING
    return alert


def notices_sent_through(db: Session, port: int) -> list[MeasureAlert]:
    """The notices due two minutes after an immediate alert escalated, sent to the SMTP server
    on `port`."""
    email.use_sender(sender_to(port))
    try:
        return alerts.send_notices(db, now=clock.now() + timedelta(minutes=32))
    finally:
        email.use_sender(None)


def test_the_on_call_clinician_gets_the_escalation(api, world, db: Session, smtp) -> None:  # noqa: F811
    port, mailbox = smtp
    nurse = user(db, "nurse_a")
    nurse.email = "nurse.a@clinic.example"
    now = clock.now()
    on_call.add(db=db, site=site_a(db), username="nurse_a", starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=11), actor=ADMIN)
    alert = escalated_high_risk_alert(api, world, db)
    [sent] = notices_sent_through(db, port)
    assert sent.pk == alert.pk and sent.notice_status == "sent"
    assert sent.notice_to == "nurse.a@clinic.example" and sent.notice_sent_at is not None
    [raw] = mailbox.messages
    message = email_parser.message_from_bytes(raw)
    assert message["To"] == "nurse.a@clinic.example"
    assert message["Subject"] == "Escalated immediate alert at Site A"
    body = message.get_payload(decode=True).decode()
    assert "C-SSRS screener at high risk" in body and f"/alerts/{alert.id}" in body
    assert "TestP_A1" not in body  # the patient by MRN, not by name
    assert alerts.send_notices(db, now=clock.now() + timedelta(hours=1)) == []  # sent once


def test_without_anyone_on_call_the_prescriber_gets_it_or_the_alert_says_why(
        api, world, db: Session, smtp) -> None:  # noqa: F811
    port, mailbox = smtp
    alert = escalated_high_risk_alert(api, world, db)
    email.use_sender(sender_to(port))
    try:
        [failed] = alerts.send_notices(db, now=clock.now() + timedelta(minutes=32))
        assert failed.notice_status == "failed" and "nobody on call" in failed.notice_error
        assert mailbox.messages == []
        user(db, "prescriber").email = "dr@clinic.example"
        alert.notice_status, alert.notice_error = alerts.NOTICE_PENDING, ""
        [sent] = alerts.send_notices(db, now=clock.now() + timedelta(minutes=33))
    finally:
        email.use_sender(None)
    assert sent.notice_status == "sent" and sent.notice_to == "dr@clinic.example"


def test_a_mail_server_that_is_down_is_retried_then_shown_failed(api, world, db: Session) -> None:
    user(db, "prescriber").email = "dr@clinic.example"
    escalated_high_risk_alert(api, world, db)
    email.use_sender(sender_to(free_port()))  # nothing listens there
    moment = clock.now() + timedelta(minutes=32)
    try:
        for attempt in range(1, 5):
            [tried] = alerts.send_notices(db, now=moment)
            assert tried.notice_attempts == attempt and "could not be reached" in tried.notice_error
            moment = tried.notice_next_at or moment
    finally:
        email.use_sender(None)
    assert tried.notice_status == "failed"
    assert alerts.send_notices(db, now=moment + timedelta(hours=1)) == []


def test_an_alert_followed_up_before_its_notice_is_not_sent(api, world, db: Session) -> None:
    user(db, "prescriber").email = "dr@clinic.example"
    db.flush()
    alert = escalated_high_risk_alert(api, world, db)
    done = api["prescriber"].post(f"/api/v1/alerts/{alert.id}/follow-up",
                                  json={"action": "contacted", "note": "called; safe"})
    assert done.status_code == 200
    db.expire_all()
    [skipped] = alerts.send_notices(db, now=clock.now() + timedelta(minutes=32))
    assert skipped.notice_status == "failed" and "followed up" in skipped.notice_error


def test_the_rota_refuses_what_cannot_work(db: Session, world) -> None:
    site, now = site_a(db), clock.now()
    with pytest.raises(InvalidInput, match="not an active clinician at A"):
        on_call.add(db=db, site=site, username="frontdesk", starts_at=now,
                    ends_at=now + timedelta(hours=8), actor=ADMIN)
    with pytest.raises(InvalidInput, match="Ends at"):
        on_call.add(db=db, site=site, username="nurse_a", starts_at=now,
                    ends_at=now - timedelta(hours=8), actor=ADMIN)
    with pytest.raises(Conflict, match="no email address"):
        on_call.add(db=db, site=site, username="nurse_a", starts_at=now,
                    ends_at=now + timedelta(hours=8), actor=ADMIN)


def test_the_rota_page_adds_and_cancels_a_shift(web, world, db: Session) -> None:
    from tests.conftest import csrf_of

    user(db, "prescriber").email = "dr@clinic.example"
    db.flush()
    admin = web["admin"]
    page = admin.get("/on-call", params={"site": "A"})
    assert page.status_code == 200 and "Nobody is on call now" in page.text
    today = clock.today("America/New_York")
    bad = admin.post("/on-call", data={"csrf_token": csrf_of(page.text), "site": "A",
                                       "user": "prescriber", "from_day": str(today),
                                       "from_time": "25:00", "to_day": str(today),
                                       "to_time": "23:00"})
    assert bad.status_code == 422 and "YYYY-MM-DD and HH:MM" in bad.text
    added = admin.post("/on-call", data={"csrf_token": csrf_of(page.text), "site": "A",
                                         "user": "prescriber", "from_day": str(today),
                                         "from_time": "00:00",
                                         "to_day": str(today + timedelta(days=1)),
                                         "to_time": "23:59"}, follow_redirects=True)
    assert added.status_code == 200 and "On call now: <strong>prescriber</strong>" in added.text
    import re
    [cancel_url] = re.findall(r'action="(/on-call/[0-9a-f-]{36}/cancel)"', added.text)
    cancelled = admin.post(cancel_url, data={"csrf_token": csrf_of(added.text)},
                           follow_redirects=True)
    assert "Nobody is on call now" in cancelled.text and "cancelled by admin" in cancelled.text
    assert web["nurse_a"].get("/on-call").status_code == 403


@pytest.mark.parametrize(("local", "starts"), [
    ("2027-01-06T00:30:00-05:00", "2027-01-05"),  # before the handover: yesterday morning's shift
    ("2027-01-06T08:00:00-05:00", "2027-01-06"),  # from the handover on: today's
])
def test_the_rota_form_proposes_the_shift_running_now(world, db: Session, local: str,
                                                      starts: str) -> None:
    site = db.execute(select(Site).where(Site.code == "A")).scalar_one()
    proposed = rota_pages.current_shift(site, datetime.fromisoformat(local))
    assert (proposed["from_day"], proposed["from_time"]) == (starts, "08:00")
    assert datetime.fromisoformat(f"{proposed['from_day']}T08:00-05:00") \
        <= datetime.fromisoformat(local) \
        < datetime.fromisoformat(f"{proposed['to_day']}T08:00-05:00")


def test_an_alert_of_a_patient_recorded_as_deceased_is_not_escalated_but_reviewed(
        api, web, world, db: Session) -> None:
    """Nobody is paged to reach a patient who has died: the alert is not escalated, and it
    stays open, marked, until a clinician records its review."""
    pid = world.patients["p_a1"]
    signed_evaluation(api, pid)
    [raised] = _post(api["nurse_a"], pid, "cssrs", HIGH_RISK).json()["alerts"]
    assert api["nurse_a"].patch(f"/api/v1/patients/{pid}",
                                json={"deceased": True}).status_code == 200
    db.expire_all()
    assert alerts.escalate_overdue(db=db, actor=alerts.ESCALATOR,
                                   now=clock.now() + timedelta(minutes=31)) == []
    listed = api["prescriber"].get("/api/v1/alerts").json()
    assert [a["id"] for a in listed if a["id"] == raised["id"]] == [raised["id"]]
    page = web["prescriber"].get("/alerts").text
    assert "deceased: not escalated" in page
    detail = web["prescriber"].get(f"/alerts/{raised['id']}").text
    assert "recorded as deceased" in detail and "patient-deceased" in detail
    done = api["prescriber"].post(f"/api/v1/alerts/{raised['id']}/follow-up",
                                  json={"action": "patient-deceased", "note": "death reviewed"})
    assert done.status_code == 200, done.text


def test_a_notice_due_for_a_patient_since_recorded_as_deceased_is_not_sent(
        api, world, db: Session, smtp) -> None:  # noqa: F811
    port, mailbox = smtp
    user(db, "prescriber").email = "dr@clinic.example"
    db.flush()
    alert = escalated_high_risk_alert(api, world, db)
    assert api["nurse_a"].patch(f"/api/v1/patients/{world.patients['p_a1']}",
                                json={"deceased": True}).status_code == 200
    db.expire_all()
    [skipped] = notices_sent_through(db, port)
    assert skipped.pk == alert.pk and skipped.notice_status == "failed"
    assert "deceased" in skipped.notice_error and mailbox.messages == []


def test_an_alert_escalates_after_the_clinic_s_time_for_its_severity(api, world, db: Session) -> None:
    """A clinic that escalates an unanswered immediate alert after 15 minutes, not the shipped
    30: the alert is due then, and escalates then."""
    made = api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": "escalate_immediate_min", "value": 15, "reason": "on-call protocol"})
    assert made.status_code == 201, made.text
    pid = world.patients["p_a1"]
    signed_evaluation(api, pid)
    [raised] = _post(api["nurse_a"], pid, "cssrs", HIGH_RISK).json()["alerts"]
    alert = db.execute(select(MeasureAlert).where(MeasureAlert.id == uuid.UUID(raised["id"]))
                       ).scalar_one()
    assert alert.escalate_at - alert.raised_at == timedelta(minutes=15)
    assert [a.pk for a in alerts.escalate_overdue(
        db=db, actor=alerts.ESCALATOR, now=alert.raised_at + timedelta(minutes=16))] == [alert.pk]


def test_a_less_urgent_severity_never_escalates_sooner(api, world, db: Session) -> None:
    refused = api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": "escalate_same_day_min", "value": 30, "reason": "shorter"})
    assert refused.status_code == 422
    [problem] = refused.json()["errors"]
    assert "escalate_immediate_min (30) must stay below escalate_same_day_min (30)" in \
        problem["message"]
    assert problem["accepted"] == "above escalate_immediate_min (30), within 30 to 1440 (input bounds)"
