"""A patient answers an emailed questionnaire link on a phone; the prescriber follows the alert up."""

import email as email_parser
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.courses.models import Course
from ketaclinic.db import make_engine
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import TreatmentSession
from tests.cli_helpers import run_cli
from tests.e2e.conftest import seeded_demo_clinic
from tests.e2e.test_chart_in_browser import log_in
from tests.server_helpers import free_port, server_log, start_server, stop_server

pytestmark = pytest.mark.e2e
PHONE = {"width": 390, "height": 844}
T = TypeVar("T")


class Mailbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(envelope.content.decode("utf-8", "replace"))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"

    def wait_for_link(self, to: str, timeout: float = 10) -> str:
        """The questionnaire link in the first message to `to` (the demo server's own worker
        may mail other patients' reminders to the same mailbox, depending on the hour)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if email_parser.message_from_string(message)["To"] != to:
                    continue
                found = re.search(r"http://127\.0\.0\.1:\d+/q/[A-Za-z0-9_-]+", message)
                if found:
                    return found.group(0)
            time.sleep(0.1)
        raise AssertionError(f"no link emailed to {to}; mailbox: {self.messages!r}")


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[int, Mailbox]]:
    """A local SMTP server on a free port."""
    from aiosmtpd.controller import Controller

    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler
    controller.stop()


@pytest.fixture(scope="module")
def mailing_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A demo clinic of its own for the server that sends mail. Not the shared demo database:
    the shared demo server's worker, which has no mail server, would then find the same due
    reminders and escalations and fail their sends (retried a minute later) whenever its pass
    came first."""
    return seeded_demo_clinic(tmp_path_factory, "mailing")


@pytest.fixture(scope="module")
def mailing_process(mailing_database: str, mailbox: tuple[int, Mailbox]
                    ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The demo clinic served with outgoing mail going to the local SMTP server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(mailing_database, port, demo=True, extra_env={
        "KETACLINIC_SMTP_HOST": "127.0.0.1", "KETACLINIC_SMTP_PORT": str(mailbox[0]),
        "KETACLINIC_SMTP_STARTTLS": "false", "KETACLINIC_PUBLIC_URL": base,
        "KETACLINIC_WORKER_INTERVAL_S": "1"})
    yield base, server
    stop_server(server)


@pytest.fixture(scope="module")
def mailing_server(mailing_process: tuple[str, subprocess.Popen[bytes]]) -> str:
    """The base URL of the demo clinic that sends mail."""
    return mailing_process[0]


def patient_in_induction(database_url: str) -> tuple[str, str]:
    """The demo patient whose course is still in induction (the demo course with fewest sessions)."""
    engine = make_engine(database_url)
    with Session(engine) as db:
        course_pk = db.execute(select(TreatmentSession.course_pk).where(
            TreatmentSession.created_by == "demo-generator").group_by(
            TreatmentSession.course_pk).order_by(func.count()).limit(1)).scalar_one()
        course = db.execute(select(Course).where(Course.pk == course_pk)).scalar_one()
        patient = db.execute(select(Patient).where(Patient.pk == course.patient_pk)).scalar_one()
    engine.dispose()
    return str(patient.id), patient.family_name


def body_of(raw: str) -> str:
    """The text of an emailed message, its transfer encoding undone."""
    payload = email_parser.message_from_string(raw).get_payload(decode=True)
    return payload.decode() if isinstance(payload, bytes) else ""


def email_of(database_url: str, patient_id: str) -> str:
    """The email address the demo patient has on file."""
    import uuid

    engine = make_engine(database_url)
    with Session(engine) as db:
        address = db.execute(select(Patient.email).where(Patient.id == uuid.UUID(patient_id))
                             ).scalar_one()
    engine.dispose()
    return str(address)


def answer_phq9_with_item_9(phone: Page) -> None:
    for item in range(1, 10):
        phone.locator(f"#phq9-item-{item}").get_by_label("Several days").check()
    for item in range(1, 8):
        phone.locator(f"#gad7-item-{item}").get_by_label("Not at all").check()
    for item in (1, 2, 6):
        phone.locator(f"#cssrs-item-{item}").get_by_label("No").check()


def test_emailed_link_item_9_crisis_message_alert_follow_up(
        browser: object, page: Page, mailing_server: str, mailing_database: str,
        mailbox: tuple[int, Mailbox]) -> None:
    base = mailing_server
    patient_id, family_name = patient_in_induction(mailing_database)

    log_in(page, base, "prescriber")
    page.goto(f"{base}/patients/{patient_id}/measures")
    page.get_by_role("button", name="Email a questionnaire link").click()
    expect(page.locator("#messages")).to_contain_text("Link emailed to")
    link = mailbox[1].wait_for_link(to=email_of(mailing_database, patient_id))

    phone_context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)  # type: ignore[attr-defined]
    phone = phone_context.new_page()
    phone.goto(link)
    expect(phone.locator("#form-phq9 h2")).to_contain_text("PHQ-9")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    answer_phq9_with_item_9(phone)
    phone.get_by_role("button", name="Send my answers").click()
    expect(phone.locator("#crisis-message")).to_be_visible()
    expect(phone.locator("#crisis-contacts")).to_contain_text("988")
    expect(phone.locator("#thanks")).to_contain_text("your answers were received")

    again = phone.goto(link)
    assert again is not None and again.status == 410
    expect(phone.locator("#link-gone")).to_contain_text("already been used")
    phone_context.close()

    page.goto(f"{base}/dashboard?site=HPC")
    alert = page.locator("#dashboard-alerts li").filter(has_text=family_name).filter(
        has_text="PHQ-9 item 9")
    expect(alert).to_contain_text("your patient")
    alert.locator("a").click()
    page.get_by_label("Action").select_option("contacted")
    page.get_by_label("Note").fill("Called the patient: passive thoughts, no plan; safety plan reviewed.")
    page.get_by_role("button", name="Record and close the alert").click()
    expect(page.locator("#my-alerts")).not_to_contain_text(family_name)

    page.goto(f"{base}/patients/{patient_id}/measures")
    history = page.locator("#alerts-history")
    expect(history).to_contain_text("Patient contacted; risk assessed by prescriber")

    trail = run_cli(mailing_database, "audit", "show", "--patient", patient_id)
    assert trail.returncode == 0, trail.stderr
    for step in ("MeasureRequest", "submit", "alert", "follow-up"):
        assert step in trail.stdout, step


def demo_courses(database_url: str) -> list[str]:
    """Patient ids of the demo's story courses, in story order."""
    engine = make_engine(database_url)
    with Session(engine) as db:
        course_pks = db.execute(select(TreatmentSession.course_pk).where(
            TreatmentSession.created_by == "demo-generator").group_by(
            TreatmentSession.course_pk).order_by(TreatmentSession.course_pk)).scalars().all()
        found = [str(db.execute(select(Patient.id).join(Course, Course.patient_pk == Patient.pk)
                                .where(Course.pk == pk)).scalar_one()) for pk in course_pks]
    engine.dispose()
    return found


def test_trajectory_pages_show_the_cards(page: Page, demo_server: str, demo_database: str) -> None:
    responder, non_responder, late, relapsed, in_induction = demo_courses(demo_database)
    log_in(page, demo_server, "prescriber")
    expected = {responder: ("responder", False), non_responder: ("non-responder", False),
                late: ("partial", False), relapsed: ("responder", True), in_induction: (None, False)}
    for patient_id, (state, relapse_card) in expected.items():
        page.goto(f"{demo_server}/patients/{patient_id}/measures")
        expect(page.locator("svg.trajectory").first).to_be_visible()
        card = page.locator("#review-card")
        if state is None:
            expect(card).to_have_count(0)
        else:
            expect(card).to_have_attribute("data-state", state)
        expect(page.locator("#relapse-card")).to_have_count(1 if relapse_card else 0)
    page.goto(f"{demo_server}/patients/{late}/measures")
    expect(page.locator("#late-responder")).to_be_visible()
    page.goto(f"{demo_server}/patients/{non_responder}/measures")
    page.get_by_label("Decision").select_option("extend")
    page.get_by_label("Note").fill("Offered 4 more infusions; patient agrees.")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.locator("#review-decision")).to_contain_text("Extend induction")


def _with_alert(database_url: str, alert_id: str, work: Callable[[Any], T]) -> T:
    """Run `work` on the alert's row in a session of its own, committed after."""
    import uuid

    from ketaclinic.measures.models import MeasureAlert

    engine = make_engine(database_url)
    with Session(engine) as db:
        result = work(db.execute(select(MeasureAlert).where(
            MeasureAlert.id == uuid.UUID(alert_id))).scalar_one())
        db.commit()
    engine.dispose()
    return result


def overdue(database_url: str, alert_id: str) -> None:
    """Time passes: the alert's time to be followed up is over (set to the moment the server
    raised it, so it is due by the server's own clock)."""
    def due_when_raised(alert: Any) -> None:
        alert.escalate_at = alert.raised_at

    _with_alert(database_url, alert_id, due_when_raised)


def alert_state(database_url: str, alert_id: str) -> str:
    """What the database holds of the alert's escalation, for a failure's message."""
    return _with_alert(database_url, alert_id, lambda alert: (
        f"raised_at={alert.raised_at} escalate_at={alert.escalate_at} "
        f"escalated_at={alert.escalated_at} closed_at={alert.closed_at} "
        f"notice={alert.notice_status} next={alert.notice_next_at} "
        f"attempts={alert.notice_attempts} to={alert.notice_to} error={alert.notice_error!r}"))


def test_an_escalated_high_risk_alert_reaches_the_on_call_clinician(
        page: Page, mailing_process: tuple[str, subprocess.Popen[bytes]], mailing_database: str,
        mailbox: tuple[int, Mailbox]) -> None:
    base, server = mailing_process
    patient_id, family_name = patient_in_induction(mailing_database)
    log_in(page, base, "prescriber")
    page.goto(f"{base}/account")
    page.get_by_label("Email").fill("on-call.doctor@harbor.example")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#email-on-file")).to_have_text("on-call.doctor@harbor.example")

    page.goto(f"{base}/patients/{patient_id}/measures/new?instrument=cssrs")
    for item in (1, 2, 3, 4, 5):
        page.locator(f"#cssrs-item-{item}").get_by_label("Yes").check()
    page.locator("#cssrs-item-6").get_by_label("No").check()
    page.get_by_role("button", name="Send my answers").click()
    page.goto(f"{base}/alerts")
    row = page.locator("tr.alert-row").filter(has_text=family_name).filter(
        has_text="C-SSRS screener at high risk").first
    row.get_by_role("link", name="Record follow-up").click()
    alert_id = page.url.rsplit("/", 1)[1]

    log_in(page, base, "admin")
    page.goto(f"{base}/on-call?site=HPC")
    expect(page.locator("#on-call-now")).to_contain_text("Nobody is on call now")
    page.get_by_label("Clinician").select_option("prescriber")
    page.get_by_role("button", name="Add to the rota").click()
    expect(page.locator("#on-call-now")).to_contain_text("on-call.doctor@harbor.example")

    overdue(mailing_database, alert_id)

    def notices() -> list[str]:  # the demo's own alerts may escalate too, depending on the hour
        return [m for m in mailbox[1].messages
                if "Escalated immediate alert" in m and f"/alerts/{alert_id}" in body_of(m)]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not notices():
        time.sleep(0.2)
    assert len(notices()) == 1, (f"{len(notices())} notices of the alert "
                                 f"({alert_state(mailing_database, alert_id)}); the server said:\n"
                                 f"{server_log(server)}")
    [raw] = notices()
    notice = email_parser.message_from_string(raw)
    assert notice["To"] == "on-call.doctor@harbor.example"
    body = body_of(raw)
    assert f"/alerts/{alert_id}" in body and family_name not in body

    log_in(page, base, "prescriber")
    page.goto(f"{base}/alerts/{alert_id}")
    expect(page.locator("#alert-notice")).to_have_attribute("data-status", "sent")
    expect(page.locator("#alert-notice")).to_contain_text(
        "emailed to on-call.doctor@harbor.example")
