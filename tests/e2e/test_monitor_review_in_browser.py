"""The monitor message review in Chromium: a nurse attaches an unmatched message to the session
checked in at its chair, and marks a rejected one reviewed, from the keyboard."""

import re
import socket
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from ketaclinic.db import make_engine
from ketaclinic.demo.sessions import open_demo_session
from ketaclinic.integrations.pcd01 import MLLP_END, frame
from tests.e2e.chairs import chair_of_its_own
from tests.e2e.test_chart_in_browser import log_in
from tests.integrations.test_pcd01 import PCD01, unreadable

pytestmark = pytest.mark.e2e


def send(port: int, control_id: str, place: str, systolic: int = 186,
         readable: bool = True) -> bytes:
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    message = (PCD01.replace("MSG0001", control_id).replace("HPC^Chair 2^1", place)
               .replace("|186|", f"|{systolic}|")
               .replace("20261126140500-0500", now).replace("20261126140000-0500", now))
    message = message if readable else unreadable(message)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(frame(message))
        reply = b""
        while MLLP_END not in reply:
            reply += connection.recv(65536)
    return reply


def test_a_nurse_attaches_an_unmatched_message_and_reviews_a_rejected_one(
        page: Page, demo_server: str, demo_database: str, monitor_port: int) -> None:
    chair = chair_of_its_own(demo_database, "HPC", "Chair review")
    place = f"HPC^{chair}^1"
    assert re.search(rb"MSA\|AA\|REVIEW-U1", send(monitor_port, "REVIEW-U1", place))  # no session yet
    assert re.search(rb"MSA\|AE\|REVIEW-R1", send(monitor_port, "REVIEW-R1", place, readable=False))
    engine = make_engine(demo_database)
    with Session(engine) as db:
        open_demo_session(db, site_code="HPC", chair_name=chair)
        db.commit()
    engine.dispose()

    log_in(page, demo_server, "nurse")
    page.get_by_role("link", name="Monitor messages").click()
    unmatched = page.locator("#monitor-messages tr", has_text="REVIEW-U1")
    expect(unmatched).to_contain_text("unmatched")
    expect(unmatched).to_contain_text(chair)
    expect(unmatched.get_by_label(re.compile("Session to attach"))).to_contain_text(chair)
    unmatched.get_by_role("button", name="Attach").click()
    page.wait_for_load_state()
    expect(page.locator("#monitor-messages")).not_to_contain_text("REVIEW-U1")

    rejected = page.locator("#monitor-messages tr", has_text="REVIEW-R1")
    expect(rejected).to_contain_text("value '---' is not a number")
    note = rejected.get_by_label(re.compile("Review note"))
    note.fill("Gateway sends SpO2 in tenths; biomedical engineering told")
    note.press("Enter")  # keyboard only
    page.wait_for_load_state()
    expect(page.locator("#monitor-messages")).not_to_contain_text("REVIEW-R1")

    page.get_by_label("Show").select_option(label="Reviewed")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    expect(page.locator("#monitor-messages tr", has_text="REVIEW-U1")).to_contain_text("attached")
    expect(page.locator("#monitor-messages tr", has_text="REVIEW-R1")).to_contain_text(
        "biomedical engineering told")


def test_the_dashboard_shows_a_monitor_alarm_without_reload(
        page: Page, demo_server: str, demo_database: str, monitor_port: int) -> None:
    chair = chair_of_its_own(demo_database, "RVS", "Chair dashboard")
    engine = make_engine(demo_database)
    with Session(engine) as db:
        open_demo_session(db, site_code="RVS", chair_name=chair)
        db.commit()
    engine.dispose()
    log_in(page, demo_server, "nurse3")  # Riverside's nurse
    page.goto(f"{demo_server}/dashboard")
    chairs = page.locator("#active-chairs")
    expect(chairs).to_contain_text(chair)
    page.evaluate("window.stillTheSamePage = true")
    reply = send(monitor_port, "DASH-1", f"RVS^{chair}^1", systolic=193)
    assert re.search(rb"MSA\|AA\|DASH-1", reply)
    expect(chairs).to_contain_text("Systolic BP 193 is above 180", timeout=5000)
    assert page.evaluate("window.stillTheSamePage") is True, "the page was not reloaded"


def test_a_nurse_closes_a_pile_from_a_monitor_left_on_with_one_note(
        page: Page, demo_server: str, demo_database: str, monitor_port: int) -> None:
    chair = chair_of_its_own(demo_database, "RVS", "Chair left on")
    for n in range(6):  # no session at the chair: each one unmatched
        assert re.search(rb"MSA\|AA\|PILE-%d" % n, send(monitor_port, f"PILE-{n}", f"RVS^{chair}^1"))
    log_in(page, demo_server, "nurse3")  # Riverside's nurse
    page.get_by_role("link", name="Monitor messages").click()
    page.get_by_label("Chair").select_option(label=f"RVS · {chair}")
    page.get_by_label("Kind").select_option(value="unmatched")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    expect(page.locator("#monitor-messages")).to_contain_text("PILE-5")
    pile = page.locator("#review-all")
    expect(pile.get_by_role("button", name="Mark all 6 reviewed")).to_be_visible()
    note = pile.get_by_label(re.compile("Review note for all"))
    note.fill("Monitor left on after the last patient; no one was at the chair")
    note.press("Enter")  # keyboard only
    page.wait_for_load_state()
    expect(page.locator("#monitor-messages")).not_to_contain_text("PILE-")
    expect(page.get_by_label("Kind")).to_have_value("unmatched")  # back to the same list
