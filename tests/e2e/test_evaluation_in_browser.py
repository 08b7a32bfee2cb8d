"""A prescriber screens a demo patient, records the benefit/risk reasons and signs; a patient
with a contraindication cannot be signed to start."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_chart_in_browser import log_in

pytestmark = pytest.mark.e2e


def open_demo_patient(page: Page, base: str, row: int) -> str:
    page.goto(f"{base}/patients")
    link = page.locator("#patient-results tbody tr a").nth(row)
    link.click()
    page.wait_for_load_state()
    return page.url


def record_vitals(page: Page, systolic: str, diastolic: str, weight: str) -> None:
    """Chart a pressure and a weight; a weight far from the demo patient's last one is asked
    about, and confirmed as a nurse who weighed the patient would."""
    page.get_by_text("Record vital signs").click()
    page.get_by_label("Systolic blood pressure (mmHg)").fill(systolic)
    page.get_by_label("Diastolic blood pressure (mmHg)").fill(diastolic)
    page.get_by_label("Weight (kg)").fill(weight)
    page.get_by_role("button", name="Save vital signs").click()
    page.wait_for_load_state()
    if page.locator("#v-weight-confirmed").count():
        expect(page.locator("#vitals .error-box")).to_contain_text("weighed in kilograms")
        page.locator("#v-weight-confirmed").check()
        page.get_by_role("button", name="Save vital signs").click()
        page.wait_for_load_state()


def screen_iv(page: Page) -> None:
    page.locator("#evaluations-link").click()
    page.get_by_label("Route").select_option("iv")
    page.get_by_role("button", name="Screen").click()
    page.wait_for_load_state()


def test_prescriber_screens_records_reasons_and_signs(page: Page, demo_server: str) -> None:
    log_in(page, demo_server, "prescriber")
    open_demo_patient(page, demo_server, 3)
    record_vitals(page, "152", "91", "78")  # a raised reading today: a caution
    screen_iv(page)
    expect(page.locator("#decision")).to_have_text(re.compile("needs-review|not-eligible"))
    if page.locator("#findings-contraindication").count():
        pytest.fail("demo patient 4 unexpectedly has a contraindication")
    expect(page.locator("#findings-caution")).to_contain_text("Resting blood pressure 152/91")
    expect(page.locator("#findings-caution")).to_contain_text("Source: SPRAVATO-PI")
    expect(page.locator("#dose-result")).to_contain_text("39.0 mg")
    page.get_by_role("button", name="Sign").click()
    expect(page.locator("#sign-errors")).to_contain_text("no benefit/risk reason")
    for box in page.locator("textarea[name^='caution_reasons.']").all():
        box.fill("Discussed with the patient: benefit outweighs the risk; BP rechecked.")
    page.get_by_role("button", name="Sign").click()
    expect(page.locator("#signed")).to_contain_text("Signed start by prescriber")
    expect(page.locator("#course-plan tbody tr")).to_have_count(6)


def test_a_contraindication_cannot_be_signed_to_start(page: Page, demo_server: str) -> None:
    log_in(page, demo_server, "prescriber")
    open_demo_patient(page, demo_server, 5)
    record_vitals(page, "124", "79", "70")
    page.get_by_text("Add condition").click()
    page.locator("#conditions-pick").select_option(label="Intracerebral haemorrhage (274100004)")
    page.locator("#c-status").select_option("resolved")
    page.get_by_label("Listed as").select_option(label="encounter diagnosis")
    page.locator("#c-onset").fill("2015-03-01")
    page.locator("#c-abatement").fill("2015-04-01")
    page.locator("#conditions").get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    expect(page.locator("#conditions tbody")).to_contain_text("encounter diagnosis")
    screen_iv(page)
    expect(page.locator("#decision")).to_have_text("not-eligible")
    expect(page.locator("#findings-contraindication")).to_contain_text(
        "History of intracranial haemorrhage")
    expect(page.locator("#blocked")).to_be_visible()
    expect(page.locator("input[name=decision][value=start]")).to_have_count(0)
    # Even a forged form asking to start is refused and nothing is signed.
    page.evaluate("""() => {
        const radio = document.querySelector('input[name=decision]');
        radio.value = 'start';
    }""")
    page.get_by_role("button", name="Sign").click()
    expect(page.locator("#sign-errors")).to_contain_text("cannot be signed through")
    expect(page.locator("#signed")).to_have_count(0)
    page.get_by_label("Note").fill("History of intracerebral haemorrhage: not a candidate.")
    page.get_by_role("radio", name="Do not start").check()
    page.get_by_role("button", name="Sign").click()
    expect(page.locator("#signed")).to_contain_text("Signed do-not-start")
