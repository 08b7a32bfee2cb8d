"""SMART App Launch (standalone) in-process: consent, code with PKCE, token with the launch
context and an id token, scopes enforced, refresh, revoke."""

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.auth import clients, oauth_server, signing_key
from ketaclinic.kernel.actor import Actor
from ketaclinic.settings import get_settings
from tests.conftest import csrf_of

REDIRECT = "https://app.example/callback"
ADMIN = Actor(username="admin-test", role="system")


def fhir_base() -> str:
    return get_settings().public_url.rstrip("/") + "/fhir"


class App:
    """A public SMART app: its client id, a PKCE verifier and the scopes it asks for."""

    def __init__(self, db: Session, scope: str, name: str = "Mood tracker") -> None:
        row = clients.register(db=db, name=name, kind=clients.SMART_APP, site_code="A",
                               redirect_uris=[REDIRECT], actor=ADMIN,
                               scopes="openid fhirUser launch/patient offline_access "
                                      "patient/*.rs user/*.rs")
        self.client_id, self.scope = row.client_id, scope
        self.verifier = secrets.token_urlsafe(48)
        self.state = secrets.token_urlsafe(8)

    def authorize_query(self, **changes: str) -> dict[str, str]:
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(self.verifier.encode()).digest()).decode().rstrip("=")
        query = {"response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT,
                 "scope": self.scope, "state": self.state, "aud": fhir_base(),
                 "code_challenge": challenge, "code_challenge_method": "S256", **changes}
        return {k: v for k, v in query.items() if v}

    def exchange(self, anon: TestClient, code: str, verifier: str | None = None) -> Any:
        return anon.post(oauth_server.TOKEN_PATH, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": self.client_id, "code_verifier": verifier or self.verifier})


def approve(browser: TestClient, app: App, decision: str = "approve", **changes: str) -> str:
    page = browser.get(f"/oauth/authorize?{urlencode(app.authorize_query(**changes))}")
    assert page.status_code == 200, page.text
    form = {**app.authorize_query(**changes), "csrf_token": csrf_of(page.text),
            "decision": decision}
    answer = browser.post("/oauth/authorize", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def code_of(location: str, app: App) -> str:
    assert location.startswith(REDIRECT), location
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [app.state]
    return query["code"][0]


def bearer(app_client: Any, token: str) -> TestClient:
    session = TestClient(app_client, base_url="https://testserver")
    session.headers["Authorization"] = f"Bearer {token}"
    return session


@pytest.fixture
def patient_browser(web) -> TestClient:
    return web["patient_a1"]


def test_a_patient_launches_an_app_for_their_own_record(app, anon, web, db: Session,
                                                        world) -> None:
    mood = App(db, "openid fhirUser launch/patient patient/Patient.rs patient/Observation.rs "
                   "offline_access")
    page = web["patient_a1"].get(f"/oauth/authorize?{urlencode(mood.authorize_query())}")
    assert "Mood tracker" in page.text and "Read, search Observation" in page.text
    code = code_of(approve(web["patient_a1"], mood), mood)
    answer = mood.exchange(anon, code)
    assert answer.status_code == 200, answer.text
    token = answer.json()
    own = world.patients["p_a1"]
    assert token["patient"] == own and token["refresh_token"] and "patient/Patient.rs" in token["scope"]
    claims = jwt.decode(token["id_token"], KeySet.import_key_set(signing_key.public_jwks()),
                        algorithms=["ES256"]).claims
    assert claims["fhirUser"] == f"{fhir_base()}/Patient/{own}" and claims["aud"] == [mood.client_id]
    session = bearer(app, token["access_token"])
    assert session.get(f"/fhir/Patient/{own}").status_code == 200
    read = db.execute(select(AuditEvent).where(
        AuditEvent.action == "read", AuditEvent.patient_id == own,
        AuditEvent.created_by == "patient_a1").order_by(AuditEvent.seq.desc())).scalars().first()
    assert read is not None and read.client.endswith("client:Mood tracker")
    assert session.get(f"/fhir/Patient/{world.patients['p_a2']}").status_code in (403, 404)
    assert session.get(f"/fhir/Condition?patient={own}").status_code == 403  # not granted
    assert mood.exchange(anon, code).json()["error"] == "invalid_grant"  # a code works once


def test_refresh_then_revoke_from_my_account(app, anon, web, db: Session, world) -> None:
    mood = App(db, "launch/patient patient/*.rs offline_access")
    token = mood.exchange(anon, code_of(approve(web["patient_a1"], mood), mood)).json()
    refreshed = anon.post(oauth_server.TOKEN_PATH, data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
        "client_id": mood.client_id})
    assert refreshed.status_code == 200, refreshed.text
    fresh = refreshed.json()
    assert fresh["patient"] == world.patients["p_a1"]
    reused = anon.post(oauth_server.TOKEN_PATH, data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
        "client_id": mood.client_id})
    assert reused.json()["error"] == "invalid_grant"  # a refresh token is replaced when used
    apps = web["patient_a1"].get("/account/apps")
    assert "Mood tracker" in apps.text
    registered = clients.by_client_id(db, mood.client_id)
    assert registered is not None
    client_id = registered.id
    web["patient_a1"].post(f"/account/apps/{client_id}/revoke",
                           data={"csrf_token": csrf_of(apps.text)})
    after = anon.post(oauth_server.TOKEN_PATH, data={
        "grant_type": "refresh_token", "refresh_token": fresh["refresh_token"],
        "client_id": mood.client_id})
    assert after.json()["error"] == "invalid_grant"
    assert bearer(app, fresh["access_token"]).get(
        f"/fhir/Patient/{world.patients['p_a1']}").status_code == 401


def test_pkce_and_the_request_are_checked(anon, web, db: Session) -> None:
    mood = App(db, "launch/patient patient/*.rs")
    code = code_of(approve(web["patient_a1"], mood), mood)
    assert mood.exchange(anon, code, verifier="x" * 50).json()["error"] == "invalid_grant"
    online_only = mood.exchange(anon, code_of(approve(web["patient_a1"], mood), mood)).json()
    assert "access_token" in online_only and "refresh_token" not in online_only
    no_pkce = web["patient_a1"].get(
        f"/oauth/authorize?{urlencode(mood.authorize_query(code_challenge='', code_challenge_method=''))}",
        follow_redirects=False)
    assert no_pkce.status_code == 303 and "error=invalid_request" in no_pkce.headers["location"]
    plain = web["patient_a1"].get(
        f"/oauth/authorize?{urlencode(mood.authorize_query(code_challenge_method='plain'))}",
        follow_redirects=False)
    assert plain.status_code == 303 and "error=invalid_request" in plain.headers["location"]
    wrong_aud = web["patient_a1"].get(
        f"/oauth/authorize?{urlencode(mood.authorize_query(aud='https://other.example/fhir'))}")
    assert wrong_aud.status_code == 400
    stranger = web["patient_a1"].get(
        f"/oauth/authorize?{urlencode(mood.authorize_query(redirect_uri='https://evil.example/cb'))}")
    assert stranger.status_code == 400 and "evil" not in stranger.headers.get("location", "")
    denied = approve(web["patient_a1"], mood, decision="deny")
    assert denied.startswith(REDIRECT) and "error=access_denied" in denied


def test_staff_choose_the_patient_and_the_token_reaches_only_that_one(app, anon, web,
                                                                      db: Session, world) -> None:
    viewer = App(db, "launch/patient patient/*.rs")
    page = web["nurse_a"].get(f"/oauth/authorize?{urlencode(viewer.authorize_query())}")
    assert 'name="patient"' in page.text
    form = {**viewer.authorize_query(), "csrf_token": csrf_of(page.text), "decision": "approve",
            "patient": world.patients["p_a2"]}
    location = web["nurse_a"].post("/oauth/authorize", data=form,
                                   follow_redirects=False).headers["location"]
    token = viewer.exchange(anon, code_of(location, viewer)).json()
    assert token["patient"] == world.patients["p_a2"]
    session = bearer(app, token["access_token"])
    assert session.get(f"/fhir/Patient/{world.patients['p_a2']}").status_code == 200
    assert session.get(f"/fhir/Patient/{world.patients['p_a1']}").status_code == 404
    bundle = session.get("/fhir/Patient").json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [world.patients["p_a2"]]
