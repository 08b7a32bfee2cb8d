"""A SMART standalone launch as the demo patient, with the fhirclient library from PyPI: the
consent screen in a real browser, the token, scopes enforced, then revoking the app from My
account stops its refresh token."""

import pytest
from fhirclient import client as smart_client
from fhirclient.models.condition import Condition
from fhirclient.models.patient import Patient as FhirPatient
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.auth.models import User
from ketaclinic.db import make_engine
from ketaclinic.demo.seed import DEMO_PASSWORD
from ketaclinic.patients.models import Patient
from tests.cli_helpers import run_cli
from tests.server_helpers import free_port

pytestmark = pytest.mark.e2e
SCOPES = "openid fhirUser launch/patient patient/Patient.rs patient/Observation.rs offline_access"


def patient_ids(database_url: str) -> tuple[str, str]:
    """The demo patient user's own record id, and another patient's."""
    engine = make_engine(database_url)
    with Session(engine) as db:
        own_pk = db.execute(select(User.patient_pk).where(User.username == "patient")).scalar_one()
        own = db.execute(select(Patient.id).where(Patient.pk == own_pk)).scalar_one()
        other = db.execute(select(Patient.id).where(Patient.pk != own_pk).limit(1)).scalar_one()
    engine.dispose()
    return str(own), str(other)


def test_standalone_launch_approve_read_and_revoke(page: Page, demo_server: str,
                                                   demo_database: str) -> None:
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    added = run_cli(demo_database, "clients", "add", "--name", "Mood diary", "--kind",
                    "smart-app", "--site", "HPC", "--redirect-uri", redirect, "--scopes", SCOPES)
    assert added.returncode == 0, added.stderr
    client_id = added.stdout.split("client_id ")[1].split()[0]
    own, other = patient_ids(demo_database)

    app = smart_client.FHIRClient(settings={
        "app_id": client_id, "api_base": f"{demo_server}/fhir", "redirect_uri": redirect,
        "scope": SCOPES})
    callbacks: list[str] = []

    def at_the_app(route: Route) -> None:
        callbacks.append(route.request.url)
        route.fulfill(status=200, body="back at the app")

    page.route(f"{redirect}*", at_the_app)
    page.goto(app.authorize_url)  # not signed in: the login page first, then the consent
    log_in_here = page.get_by_label("Username")
    expect(log_in_here).to_be_visible()
    log_in_here.fill("patient")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name="Allow Mood diary")).to_be_visible()
    expect(page.locator("#scopes")).to_contain_text("Read, search Observation")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{redirect}*")
    assert callbacks and "code=" in callbacks[0]

    app.handle_callback(callbacks[0])
    assert app.ready and app.patient_id == own
    assert FhirPatient.read(own, app.server).id == own
    with pytest.raises(Exception, match=r"40[34]"):
        FhirPatient.read(other, app.server)
    with pytest.raises(Exception, match="403"):  # Condition was not in the scopes asked for
        list(Condition.where({"patient": own}).perform_iter(app.server))

    assert app.server.reauthorize() is not None  # the refresh token works while allowed
    page.goto(f"{demo_server}/account/apps")  # the same browser, still signed in
    expect(page.get_by_role("cell", name="Mood diary")).to_be_visible()
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("No app holds access of yours")).to_be_visible()
    with pytest.raises(Exception, match=r"400|invalid_grant"):
        app.server.reauthorize()
