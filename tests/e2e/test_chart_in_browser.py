"""A nurse finds a patient and sees the vitals chart; front desk sees no clinical data."""

import pytest
from playwright.sync_api import Page, expect

from ketaclinic.demo.seed import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_label("Password").press("Enter")  # keyboard only
    page.wait_for_load_state()


def open_first_patient_by_search(page: Page, base: str) -> str:
    page.goto(f"{base}/patients")
    first = page.locator("#patient-results tbody tr a").first
    family_name = first.inner_text().split(",")[0]
    page.get_by_label("Name or MRN").fill(family_name)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#patient-results tbody tr a").first).to_contain_text(family_name)
    page.locator("#patient-results tbody tr a").first.click()
    page.wait_for_load_state()
    return family_name


def test_nurse_searches_opens_chart_and_sees_vitals_chart(page: Page, demo_server: str) -> None:
    log_in(page, demo_server, "nurse")
    expect(page).to_have_url(f"{demo_server}/dashboard")
    expect(page.locator(".demo-banner")).to_be_visible()
    family_name = open_first_patient_by_search(page, demo_server)
    expect(page.locator("#patient-name")).to_contain_text(family_name)
    chart = page.locator("svg#vitals-chart")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 400 and box["height"] > 150
    expect(page.get_by_role("heading", name="Conditions")).to_be_visible()


def test_front_desk_finds_no_clinical_data_on_the_chart(page: Page, demo_server: str) -> None:
    log_in(page, demo_server, "frontdesk")
    expect(page).to_have_url(f"{demo_server}/dashboard")
    open_first_patient_by_search(page, demo_server)
    expect(page.locator("#demographics")).to_be_visible()
    expect(page.locator("#no-clinical")).to_be_visible()
    expect(page.locator("svg#vitals-chart")).to_have_count(0)
    for heading in ("Vital signs", "Conditions", "Medications", "Allergies"):
        expect(page.get_by_role("heading", name=heading)).to_have_count(0)


def test_nurse_records_vitals_and_an_impossible_value_is_refused(page: Page, demo_server: str) -> None:
    log_in(page, demo_server, "nurse")
    open_first_patient_by_search(page, demo_server)
    page.get_by_text("Record vital signs").click()
    page.get_by_label("Weight (kg)").fill("400")
    page.get_by_role("button", name="Save vital signs").click()
    expect(page.get_by_role("alert")).to_contain_text("Weight (kg): 400 is outside the possible range")
    expect(page.get_by_label("Weight (kg)")).to_have_value("400")
    page.get_by_label("Weight (kg)").fill("72.5")
    page.get_by_role("button", name="Save vital signs").click()
    expect(page.locator(".latest")).to_contain_text("72.5 kg")


def test_nurse_charts_a_point_of_care_pregnancy_test(page: Page, demo_server: str) -> None:
    log_in(page, demo_server, "nurse")
    open_first_patient_by_search(page, demo_server)
    page.get_by_text("Record a pregnancy test or status").click()
    page.get_by_label("Observation").select_option("2106-3")
    page.get_by_label("Answer").select_option("no")
    section = page.locator("#status-observations")
    section.get_by_role("button", name="Save").click()
    expect(section.locator("tbody tr").first).to_contain_text("hCG test, urine")
    expect(section.locator(".status-answer").first).to_have_text("negative")


def test_nurse_charts_an_allergy_in_words_with_no_code_to_hand(page: Page, demo_server: str
                                                                ) -> None:
    log_in(page, demo_server, "nurse")
    open_first_patient_by_search(page, demo_server)
    section = page.locator("#allergies")
    section.get_by_text("Add allergy").click()
    section.get_by_label("Code system").select_option(label="No code: in words")
    section.get_by_label("Description").fill("Adhesive tape")
    section.get_by_label("Reaction").fill("blisters")
    section.get_by_role("button", name="Save").click()
    expect(page.locator("#allergies tbody")).to_contain_text("Adhesive tape")
    expect(page.locator("#allergies tbody")).to_contain_text("blisters")
