"""Every route is in the permission table, and every role gets exactly what the table says."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.chair import live_changes
from ketaclinic.kernel.permissions import PUBLIC_ROUTES, Role, allows
from ketaclinic.web.deps import BEARER_PREFIXES
from ketaclinic.web.routes import registered_routes
from tests.conftest import BASE_URL, csrf_of

ROLE_USERS = {
    Role.ADMIN: "admin",
    Role.PRESCRIBER: "prescriber",
    Role.NURSE: "nurse_a",
    Role.FRONT_DESK: "frontdesk",
    Role.PATIENT: "patient_a1",
}


def test_every_route_is_in_the_permission_table(app) -> None:
    missing = [(r.method, r.path) for r in registered_routes(app)
               if r.permission is None and (r.method, r.path) not in PUBLIC_ROUTES]
    assert missing == [], f"routes with no permission and not listed as public: {missing}"
    both = [(r.method, r.path) for r in registered_routes(app)
            if r.permission is not None and (r.method, r.path) in PUBLIC_ROUTES]
    assert both == []


def test_every_form_post_checks_csrf(app) -> None:
    unprotected = [r.path for r in registered_routes(app)
                   if r.method == "POST" and not r.path.startswith(BEARER_PREFIXES) and not r.csrf_checked]
    assert unprotected == []


def _fill(path: str, world) -> str:
    return (path.replace("{patient_id}", world.patients["p_a1"])
            .replace("{entry_id}", str(uuid.uuid4()))
            .replace("{kind}", "vitals")
            .replace("{service_id}", "ketamine-screening"))


def _call(client: TestClient, method: str, path: str, csrf: str):
    if path.startswith(BEARER_PREFIXES):
        if method in ("POST", "PATCH", "PUT"):
            return client.request(method, path, json={})
        return client.request(method, path)
    data = {"csrf_token": csrf} if method == "POST" else None
    return client.request(method, path, data=data, follow_redirects=False)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_what_the_table_says(app, api, web, world, db: Session, role: Role,
                                            monkeypatch) -> None:
    # An event stream a role may open would otherwise run for hours: here it ends at once.
    monkeypatch.setattr(live_changes, "STREAM_MAX_S", 0)
    username = ROLE_USERS[role]
    api_client, page_client = api[username], web[username]
    csrf = csrf_of(page_client.get("/account").text)
    # Log out last: it ends the login the other calls use.
    routes = sorted((r for r in registered_routes(app) if r.permission and r.method != "HEAD"),
                    key=lambda r: r.path == "/logout")
    wrong = []
    for route in routes:
        client = api_client if route.path.startswith(BEARER_PREFIXES) else page_client
        response = _call(client, route.method, _fill(route.path, world), csrf)
        if allows(role, route.permission):
            if response.status_code in (401, 403) or response.status_code >= 500:
                wrong.append((route.method, route.path, response.status_code, "should pass"))
        elif response.status_code != 403:
            wrong.append((route.method, route.path, response.status_code, "should be 403"))
    assert wrong == []


def test_unauthenticated_calls_are_turned_away(app, anon: TestClient, world) -> None:
    csrf = csrf_of(anon.get("/login").text)
    for route in registered_routes(app):
        if route.permission is None or route.method == "HEAD":
            continue
        response = _call(anon, route.method, _fill(route.path, world), csrf)
        if route.path.startswith(BEARER_PREFIXES):
            assert response.status_code == 401, route
            expected = ("application/fhir+json" if route.path.startswith("/fhir")
                        else "application/problem+json")
            assert response.headers["content-type"] == expected, route
            assert response.headers["www-authenticate"] == "Bearer"
        else:
            assert response.status_code == 303, route
            assert response.headers["location"].startswith("/login?next=")


def test_a_denial_is_audited(api, db: Session) -> None:
    response = api["frontdesk"].get(f"/api/v1/patients/{uuid.uuid4()}/conditions")
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Your role (front_desk) may not do this (patient.clinical.read).")
    last = db.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    assert (last.action, last.created_by) == ("denied", "frontdesk")


def test_an_invalid_or_expired_token_is_401(app, db: Session) -> None:
    client = TestClient(app, base_url=BASE_URL)
    response = client.get("/api/v1/patients", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
