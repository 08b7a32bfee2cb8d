"""Each demo role logs in on a working morning and finds real work on its landing page: today's
appointments, a chair alarming, open questionnaire alerts, stock on hand, balances to collect,
and for the patient their visits ahead and documents."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from ketaclinic.demo.seed import DEMO_PATIENT_USERNAME, DEMO_USERS
from tests.cli_helpers import run_cli
from tests.demo.moments import working_morning
from tests.e2e.test_chart_in_browser import log_in
from tests.server_helpers import free_port, start_server, stop_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def morning_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The 50-patient demo, seeded and served from a Wednesday 10:40 at Harbor Point."""
    url = f"sqlite:///{tmp_path_factory.mktemp('morning')}/demo.db"
    clock = {"KETACLINIC_CLOCK_AT": working_morning().isoformat()}
    for args in (("db", "upgrade"), ("demo", "--patients", "50")):
        result = run_cli(url, *args, extra_env=clock)
        assert result.returncode == 0, result.stderr
    port = free_port()
    server = start_server(url, port, demo=True, extra_env=clock)
    yield f"http://127.0.0.1:{port}"
    stop_server(server)


def rows(page: Page, section: str) -> int:
    """How many rows or items a landing-page section lists."""
    return page.locator(f"#{section} tbody tr, #{section} li").count()


# What each role must find on its landing page (section ids of the Today page).
WORK = {
    "admin": ("today-appointments", "dashboard-stock", "dashboard-owed"),
    "prescriber": ("today-appointments", "active-chairs", "dashboard-alerts", "dashboard-stock"),
    "nurse": ("today-appointments", "active-chairs", "dashboard-alerts", "dashboard-stock"),
    "frontdesk": ("today-appointments", "dashboard-owed"),
}


@pytest.mark.parametrize("username", [u.username for u in DEMO_USERS if u.username in WORK])
def test_each_staff_role_lands_on_work_to_do(page: Page, morning_server: str,
                                             username: str) -> None:
    log_in(page, morning_server, username)
    assert page.url.endswith("/dashboard"), page.url
    for section in WORK[username]:
        assert rows(page, section) > 0, (username, section)
    if "active-chairs" in WORK[username]:
        expect(page.locator("#active-chairs tr.alarming")).to_have_count(1)
        expect(page.locator("#active-chairs")).to_contain_text("above")
    if username == "frontdesk":  # the desk checks patients in, but sees no clinical detail
        expect(page.locator("#active-chairs")).to_have_count(0)
        expect(page.locator("#today-appointments")).to_contain_text("IV infusion")


def test_the_patient_lands_on_visits_ahead_and_documents(page: Page, morning_server: str) -> None:
    log_in(page, morning_server, DEMO_PATIENT_USERNAME)
    assert page.url.endswith("/me"), page.url
    body = page.locator("main")
    expect(body).to_contain_text("Follow-up")
    assert page.locator("a[href$='superbill.pdf']").count() > 0
    assert page.locator("a[href$='receipt.pdf']").count() > 0
