"""A nurse draws a vial for an IV session, the dose is charted, the rest is wasted with a witness
who types their own credentials, the session closes, and the day's count matches the ledger."""

import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.clinics.models import Site
from ketaclinic.demo.seed import DEMO_PASSWORD
from ketaclinic.demo.stock import LOT, RESTOCK_LOT
from ketaclinic.inventory import ledger
from ketaclinic.inventory.models import Container, StorageLocation
from ketaclinic.treatments.models import TreatmentSession
from tests.e2e.chairs import chair_of_its_own
from tests.e2e.test_chart_in_browser import log_in
from tests.e2e.test_session_in_browser import check_in, type_reading

pytestmark = pytest.mark.e2e


def ledger_now(database_url: str) -> dict[str, str]:
    """What the ledger says each container in Harbor Point's cabinet holds now (label -> mg)."""
    engine = create_engine(database_url)
    with Session(engine) as db:
        cabinet = db.execute(select(StorageLocation).join(
            Site, Site.pk == StorageLocation.site_pk).where(Site.code == "HPC")).scalars().first()
        assert cabinet is not None
        rows = ledger.inventory_as_of(db, clock.now(), [cabinet.pk])
        labels = dict(db.execute(select(Container.pk, Container.label)).all())
    engine.dispose()
    return {labels[r["container_pk"]]: f"{r['quantity_mg'].normalize():f}" for r in rows}


def observation_passes(database_url: str, session_id: str) -> None:
    """Time passes: the dose started 110 and ended 65 minutes ago (the observation is over)."""
    engine = create_engine(database_url)
    with Session(engine) as db:
        row = db.execute(select(TreatmentSession).where(
            TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
        row.dose_start = clock.now() - timedelta(minutes=110)
        row.dose_end = clock.now() - timedelta(minutes=65)
        db.commit()
    engine.dispose()


def test_nurse_draws_gives_wastes_with_a_witness_closes_and_counts(
        page: Page, demo_server: str, demo_database: str) -> None:
    check_in(page, demo_server, 7, chair_of_its_own(demo_database, "HPC", "Chair inventory"))
    session_url = page.url
    page.context.clear_cookies()
    log_in(page, demo_server, "nurse")
    page.goto(session_url)
    page.get_by_label("Identity confirmed").check()
    page.get_by_label("Pregnancy status asked").check()
    page.get_by_label("Escort or ride home confirmed").check()
    page.get_by_role("button", name="Run checks").click()
    type_reading(page, "126", "80")
    # Draw a whole 50 mg from the open vial; the dose charted is the planned one.
    page.get_by_label("Draw from").select_option(index=0)
    page.locator("#s-draw-mg").fill("50")
    page.locator("#draw-form").get_by_role("button", name="Draw").click()
    expect(page.locator("#stock-figures")).to_contain_text("Drawn 50 mg")
    planned = page.get_by_label("Dose given (mg)").input_value()
    page.get_by_role("button", name="Start dose").click()
    expect(page.locator("#dose-given")).to_contain_text(
        re.compile(rf"{re.escape(planned)} mg, lot ({LOT}|{RESTOCK_LOT})"))
    left = 50 - float(planned)
    expect(page.locator("#stock-figures")).to_contain_text(
        re.compile(rf"{left:g} mg still to account for(?! mg)"))  # the unit said once
    expect(page.locator("#stock-figures")).not_to_contain_text("account for mg")
    expect(page.locator("#stock-figures")).to_contain_text(f"given {float(planned):g} mg + wasted")
    # The witness types their own credentials; a wrong password is refused and nothing is saved.
    waste = page.locator(".waste-form").first
    expect(waste.locator("input[name=quantity_mg]")).to_have_value(f"{left:g}")
    waste.get_by_label("Witness username").fill("prescriber")
    waste.get_by_label("Witness password").fill("not-the-password")
    waste.get_by_role("button", name="Waste, witnessed").click()
    expect(page.locator("#step-errors")).to_contain_text("witness")
    waste = page.locator(".waste-form").first
    waste.get_by_label("Witness username").fill("prescriber")
    waste.get_by_label("Witness password").fill(DEMO_PASSWORD)
    waste.get_by_role("button", name="Waste, witnessed").click()
    expect(page.locator("#stock-balanced")).to_be_visible()
    expect(page.locator("#stock-figures")).to_contain_text(f"wasted {left:g}")
    # Observation, then discharge: the record closes because the amounts add up.
    page.get_by_role("button", name="End dosing").click()
    expect(page.locator("#session-state")).to_have_text("observing")
    observation_passes(demo_database, session_url.rsplit("/", 1)[1])
    type_reading(page, "130", "82")
    page.locator("#e-moass").select_option("5")
    page.locator("#events form").first.get_by_role("button", name="Record").click()
    page.get_by_label("Escort present to take the patient home").check()
    page.get_by_label("Told: no driving").check()
    page.locator("#discharge").get_by_role("button", name="Discharge", exact=True).click()
    expect(page.locator("#closed")).to_contain_text("Discharged")
    expect(page.locator("#stock-closed")).to_contain_text(
        f"drawn 50 mg = given {float(planned):g}")
    # The day's count: two people count each container blind; it matches the ledger.
    page.goto(f"{demo_server}/inventory")
    page.get_by_role("link", name="Count this cabinet").first.click()
    for label, amount in ledger_now(demo_database).items():
        page.get_by_label(f"Your count of {label}").fill(amount)
        page.get_by_label(f"Second count of {label}").fill(amount)
    page.get_by_label("Username").fill("prescriber")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.locator("#count-outcome")).to_contain_text("matches the ledger")
