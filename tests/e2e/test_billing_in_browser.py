"""The front desk gives a patient an estimate, books the course, takes a deposit, sets up a
payment plan, and the balance is right once the first session is charged."""

import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatments.models import GivenDose, TreatmentSession
from tests.e2e.test_chart_in_browser import log_in
from tests.e2e.test_schedule_in_browser import evaluate_and_sign, next_monday
from tests.e2e.test_session_in_browser import CLINIC_TZ

pytestmark = pytest.mark.e2e


def first_session_given(database_url: str, patient_url: str) -> str:
    """The first booked session happens (checked in, dosed 35 mg over 40 min, discharged), as
    the chair-side walks elsewhere do it in the browser."""
    engine = create_engine(database_url)
    with Session(engine) as db:
        from ketaclinic.patients.models import Patient

        patient = db.execute(select(Patient).where(
            Patient.id == uuid.UUID(patient_url.rsplit("/", 1)[1]))).scalar_one()
        first = db.execute(select(Appointment).where(
            Appointment.patient_pk == patient.pk, Appointment.course_session == 1)
        ).scalars().first()
        assert first is not None and first.chair_pk is not None and first.course_pk
        start = clock.now() - timedelta(hours=3)
        db.add(TreatmentSession(
            patient_pk=patient.pk, course_pk=first.course_pk, site_pk=first.site_pk,
            chair_pk=first.chair_pk, route="iv", status="discharged", checked_in_at=start,
            dose_start=start, dose_end=start + timedelta(minutes=40),
            dose_given=GivenDose(dose_mg=35.0, lot_number="KX2611", route="iv"),
            ordered_by="prescriber", escort_present=True, driving_warning_given=True,
            discharged_at=start + timedelta(hours=2), created_by="nurse"))
        db.commit()
    engine.dispose()
    return start.astimezone(CLINIC_TZ).strftime("%Y-%m-%d %H:%M")


def test_estimate_book_deposit_plan_and_balance(page: Page, demo_server: str,
                                                demo_database: str) -> None:
    first_day = next_monday()
    patient_url = evaluate_and_sign(page, demo_server, first_day)
    page.context.clear_cookies()
    log_in(page, demo_server, "frontdesk")
    # The estimate, with its plain-language version for the patient.
    page.get_by_role("link", name="Estimate").click()
    page.get_by_label("Treatment").select_option("iv")
    page.get_by_label("Sessions").fill("6")
    page.get_by_label("Weight (kg, IV and IM)").fill("70")
    page.get_by_role("button", name="Estimate").click()
    plain = page.locator("#estimate-plain")
    expect(plain).to_contain_text("6 IV ketamine infusions at Harbor Point Clinic")
    expect(plain).to_contain_text("2,400.00 USD")  # the six-infusion package
    # Book the course.
    page.goto(patient_url)
    page.get_by_role("link", name="Appointments and booking").click()
    page.locator("a.course-link").first.click()
    page.get_by_role("button", name="Check the dates").click()
    page.get_by_role("button", name="Book these sessions").click()
    expect(page.locator("td.booked .unbooked")).to_have_count(0)
    # A deposit and a plan for the rest.
    page.goto(patient_url)
    page.get_by_role("link", name="Account and payments").click()
    payment = page.locator("#payment-form")
    payment.get_by_label("Amount (USD)").fill("500")
    payment.get_by_label("Method").select_option("card")
    payment.get_by_label("Reference (terminal or cheque number; never a card number)").fill(
        "T-88412")
    payment.get_by_role("button", name="Record payment").click()
    expect(page.locator("#balance")).to_contain_text("-500.00 USD")
    plan = page.locator("#plan-form")
    plan.get_by_label("Amount to spread (USD)").fill("1900")
    plan.get_by_label("Instalments").fill("3")
    plan.get_by_label("First due").fill((first_day + timedelta(days=30)).isoformat())
    plan.get_by_role("button", name="Set up plan").click()
    expect(page.locator("table.plan tbody tr")).to_have_count(3)
    expect(page.locator("table.plan tbody tr").first).to_contain_text("633.34 USD")
    # The first session is given; the front desk charges it: 450.00 + 35 mg x 1.50 = 502.50.
    given_at = first_session_given(demo_database, patient_url)
    page.reload()
    page.locator("#uncharged li").filter(has_text=given_at).get_by_role(
        "button", name="Charge").click()
    expect(page.locator("#invoices")).to_contain_text("502.50 USD")
    expect(page.locator("#balance")).to_contain_text("2.50 USD")
    expect(page.locator("#balance")).not_to_contain_text("-")
