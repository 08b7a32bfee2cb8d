"""The front desk books a newly evaluated patient's induction series from the course page, moves
one session by form, and the others stay as they were."""

from datetime import date, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_chart_in_browser import log_in
from tests.e2e.test_evaluation_in_browser import record_vitals, screen_iv
from tests.e2e.test_session_in_browser import CLINIC_TZ, open_harbor_point_patient

pytestmark = pytest.mark.e2e


def next_monday() -> date:
    today = datetime.now(CLINIC_TZ).date()
    return today + timedelta(days=7 - today.weekday())


def evaluate_and_sign(page: Page, base: str, first_day: date) -> str:
    """The prescriber screens a Harbor Point patient for IV and signs the course to start."""
    log_in(page, base, "prescriber")
    for candidate in range(1, 8):
        open_harbor_point_patient(page, base, candidate)
        patient_url = page.url
        record_vitals(page, "122", "78", "70")
        screen_iv(page)
        if page.locator("#decision").inner_text().strip() != "not-eligible":
            break
    for box in page.locator("textarea[name^='caution_reasons.']").all():
        box.fill("Discussed with the patient; benefit outweighs the risk.")
    page.get_by_label("First session").fill(first_day.isoformat())
    page.get_by_role("button", name="Sign").click()
    expect(page.locator("#signed")).to_contain_text("Signed start")
    return patient_url


def booked_cells(page: Page) -> list[str]:
    return [page.locator(f"#session-{n} td.booked").inner_text() for n in range(1, 7)]


def test_front_desk_books_a_series_and_moves_one(page: Page, demo_server: str) -> None:
    first_day = next_monday()
    patient_url = evaluate_and_sign(page, demo_server, first_day)
    page.context.clear_cookies()
    log_in(page, demo_server, "frontdesk")
    page.goto(patient_url)
    page.get_by_role("link", name="Appointments and booking").click()
    page.locator("a.course-link").first.click()
    expect(page.locator("td.booked .unbooked")).to_have_count(6)
    page.get_by_label("At").fill("10:00")
    page.get_by_role("button", name="Check the dates").click()
    expect(page.locator("#proposal tbody tr")).to_have_count(6)
    page.get_by_role("button", name="Book these sessions").click()
    expect(page.locator("td.booked .unbooked")).to_have_count(0)
    before = booked_cells(page)
    assert before[0].startswith(f"{first_day:%a %Y-%m-%d} 10:00")
    # Move session 2 to the afternoon of the same day, by form and keyboard.
    session_two = date.fromisoformat(before[1].split()[1])
    page.locator("#m-time-2").fill("14:30")
    page.locator("#m-time-2").press("Enter")
    expect(page.locator("#session-2 td.booked")).to_contain_text(
        f"{session_two:%a %Y-%m-%d} 14:30")
    after = booked_cells(page)
    assert after[:1] + after[2:] == before[:1] + before[2:]
    # The day view shows the moved session in the afternoon.
    page.goto(f"{demo_server}/schedule?site=HPC&day={session_two}")
    expect(page.locator("#day-grid")).to_contain_text("14:30")
