"""The public decision aid on a phone: three visitors get the result their answers call for,
with the reasons; one sends an enquiry that reaches the clinic; axe-core finds no serious or
critical accessibility violation on the public pages."""


import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE
from tests.e2e.test_chart_in_browser import log_in

pytestmark = pytest.mark.e2e


def serious_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']}" for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")]


def start(page: Page, base: str, age: str) -> None:
    page.goto(f"{base}/check")
    page.get_by_label("Your age").fill(age)


def test_three_visitors_and_an_enquiry_on_a_phone(phone: Page, demo_server: str,
                                                  page: Page) -> None:
    start(phone, demo_server, "52")
    assert serious_violations(phone) == []
    phone.get_by_label("An aneurysm (a bulging blood vessel)").check()
    phone.get_by_role("button", name="See my result").click()
    expect(phone.locator("#outcome")).to_have_text("Ketamine therapy is probably not safe for you")
    expect(phone.locator("#reasons")).to_contain_text("An aneurysm")
    expect(phone.locator("#reasons")).to_contain_text("source:")
    assert serious_violations(phone) == []
    start(phone, demo_server, "40")
    phone.get_by_label("Medicine you take (1), if any").fill("diazepam")
    phone.get_by_label("Its total dose a day in mg, if you know it").first.fill("20")
    phone.get_by_role("button", name="See my result").click()
    expect(phone.locator("#outcome")).to_have_text("Some things need a doctor's review first")
    expect(phone.locator("#reasons")).to_contain_text("benzodiazepine")
    start(phone, demo_server, "35")
    phone.get_by_label("Blood pressure, top number (if you know it)").fill("118")
    phone.get_by_label("Blood pressure, bottom number").fill("76")
    phone.get_by_label("Your weight in kg (for the cost of IV treatment)").fill("80")
    phone.get_by_role("button", name="See my result").click()
    expect(phone.locator("#outcome")).to_have_text("Worth discussing with a clinician")
    expect(phone.locator("#cost")).to_contain_text("at 80 kg")
    expect(phone.locator("#cost")).to_contain_text("2,400.00 USD")  # the demo's package
    expect(phone.locator("#preparation")).to_contain_text("Someone else must drive you home")
    assert serious_violations(phone) == []
    phone.get_by_label("Your name").fill("Robin Visitor")
    phone.get_by_label("Email or phone").fill("robin@example.org")
    phone.get_by_label("Your question").fill("Do I need a referral?")
    phone.get_by_role("button", name="Send to the clinic").click()
    expect(phone.locator("#enquiry-sent")).to_be_visible()
    phone.goto(f"{demo_server}/check/compare")
    expect(phone.locator("#options")).to_contain_text("ELEKT-D")
    assert serious_violations(phone) == []
    # The enquiry reached the clinic's inbox.
    log_in(page, demo_server, "frontdesk")
    page.goto(f"{demo_server}/enquiries")
    expect(page.locator("#enquiries")).to_contain_text("Do I need a referral?")


def test_the_patient_portal_is_accessible_on_a_phone(phone: Page, demo_server: str) -> None:
    log_in(phone, demo_server, "patient")
    phone.goto(f"{demo_server}/me")
    expect(phone.locator("#portal")).to_be_visible()
    assert serious_violations(phone) == []
    phone.locator("#my-progress").click()
    phone.wait_for_load_state()
    assert serious_violations(phone) == []


def test_a_suicidal_visitor_sees_988_and_911_first_when_no_contacts_are_set(
        phone: Page, demo_server: str, demo_database: str) -> None:
    from sqlalchemy import create_engine, update
    from sqlalchemy.orm import Session

    from ketaclinic.clinics.models import Network

    engine = create_engine(demo_database)
    with Session(engine) as db:
        saved = [(n.pk, n.crisis_contacts) for n in db.query(Network)]
        db.execute(update(Network).values(crisis_contacts=[]))
        db.commit()
    try:
        start(phone, demo_server, "29")
        phone.get_by_label("Medicine you take (1), if any").fill("sertraline")  # not on the list
        phone.locator("input[name=suicidal_thoughts][value=yes]").check()
        phone.get_by_role("button", name="See my result").click()
        crisis = phone.locator("#crisis")
        expect(crisis).to_be_visible()
        expect(crisis).to_contain_text("988")
        expect(crisis).to_contain_text("911")
        expect(crisis).to_contain_text("call or text 988, or call 911, now")
        first = phone.locator("main > *").first
        assert first.get_attribute("id") == "crisis", "the crisis contacts come first"
        box, outcome = crisis.bounding_box(), phone.locator("#outcome").bounding_box()
        assert box and outcome and box["y"] < outcome["y"] and box["y"] < PHONE["height"]
        expect(phone.locator("body")).to_contain_text("You take sertraline")
    finally:
        with Session(engine) as db:
            for pk, contacts in saved:
                db.execute(update(Network).where(Network.pk == pk).values(crisis_contacts=contacts))
            db.commit()
        engine.dispose()
