"""Pages fit a phone and read for everyone: at 390 x 844 the portal, its progress page and the
public self-check are no wider than the screen, and axe-core finds no serious or critical
violation on the staff pages (today, chart, chair page, schedule, stock, billing), nor on a
closed day's schedule on a tablet held upright."""

import sqlite3
import uuid

import pytest
from playwright.sync_api import Page

from tests.e2e.test_chart_in_browser import log_in
from tests.e2e.test_decision_aid_on_a_phone import serious_violations

pytestmark = pytest.mark.e2e
A_SUNDAY = "2026-03-01"


def overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the screen."""
    return int(page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def test_the_portal_and_the_self_check_fit_a_phone(phone: Page, demo_server: str) -> None:
    phone.goto(f"{demo_server}/check")
    assert overflow(phone) == 0, "/check"
    log_in(phone, demo_server, "patient")
    assert phone.url.endswith("/me")
    assert overflow(phone) == 0, "/me"
    phone.locator("#my-progress").click()
    phone.wait_for_load_state()
    assert "/measures" in phone.url
    assert overflow(phone) == 0, phone.url


def test_staff_pages_have_no_serious_accessibility_violation(page: Page, demo_server: str,
                                                             demo_database: str) -> None:
    found: dict[str, list[str]] = {}
    log_in(page, demo_server, "prescriber")
    for path in ("/dashboard", "/schedule", "/inventory", "/patients"):
        page.goto(f"{demo_server}{path}")
        found[path] = serious_violations(page)
    # a day the clinic is closed, on a tablet held upright: the day's grid of chairs is wider
    # than the screen and holds no link, and can still be scrolled from the keyboard
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(f"{demo_server}/schedule?day={A_SUNDAY}")
    assert "Closed on Sundays" in page.locator("#closed-day").inner_text()
    found["a closed day's schedule, upright"] = serious_violations(page)
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{demo_server}/patients")
    page.locator("#patient-results tbody tr a").first.click()
    page.wait_for_load_state()
    found["chart"] = serious_violations(page)
    session_id = sqlite3.connect(demo_database.removeprefix("sqlite:///")).execute(
        "SELECT id FROM treatment_session ORDER BY pk LIMIT 1").fetchone()[0]
    page.goto(f"{demo_server}/treatment-sessions/{uuid.UUID(str(session_id))}")
    assert page.locator("h1").count() == 1
    found["chair page"] = serious_violations(page)
    log_in(page, demo_server, "frontdesk")
    page.goto(f"{demo_server}/billing/estimate?site=HPC&route=iv&sessions=6&weight_kg=80")
    found["billing"] = serious_violations(page)
    assert {where: v for where, v in found.items() if v} == {}
