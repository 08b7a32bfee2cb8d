"""Logins end when they should: API tokens time out when idle and end with web logout or an
administrator's revocation; passwords are changed with the current one, and an administrator's
reset forces a change; emergency access is time-limited, flagged and reviewed; every answer
carries the security headers."""

import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.auth.models import User
from ketaclinic.settings import get_settings
from tests.conftest import PASSWORD, api_token, csrf_of, web_login


def test_an_idle_api_token_stops_working(api, clinic_clock) -> None:
    assert api["nurse_a"].get("/api/v1/me").status_code == 200
    clinic_clock.shift(timedelta(minutes=get_settings().api_token_idle_min, seconds=61))
    assert api["nurse_a"].get("/api/v1/me").status_code == 401


def test_web_logout_and_an_administrator_end_api_tokens(app, db: Session, world, web) -> None:
    from fastapi.testclient import TestClient

    from tests.conftest import BASE_URL

    client = TestClient(app, base_url=BASE_URL)
    client.headers["Authorization"] = f"Bearer {api_token(client, world.users['nurse_a'])}"
    assert client.get("/api/v1/me").status_code == 200
    browser = web_login(TestClient(app, base_url=BASE_URL), world.users["nurse_a"])
    page = browser.get("/account")
    browser.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert client.get("/api/v1/me").status_code == 401
    client.headers["Authorization"] = f"Bearer {api_token(client, world.users['nurse_a'])}"
    nurse = db.execute(select(User).where(User.username == "nurse_a")).scalar_one()
    users = web["admin"].get("/admin/users")
    web["admin"].post(f"/admin/users/{nurse.id}/revoke-tokens",
                      data={"csrf_token": csrf_of(users.text)})
    assert client.get("/api/v1/me").status_code == 401


def test_a_password_is_changed_with_the_current_one(app, db: Session, world) -> None:
    from fastapi.testclient import TestClient

    from tests.conftest import BASE_URL

    browser = web_login(TestClient(app, base_url=BASE_URL), world.users["nurse_a"])
    form = browser.get("/account/password")
    wrong = browser.post("/account/password", data={
        "csrf_token": csrf_of(form.text), "current_password": "not-it",
        "new_password": "a-new-long-password"})
    assert wrong.status_code == 422 and "Current password: is not your current password" in wrong.text
    done = browser.post("/account/password", data={
        "csrf_token": csrf_of(form.text), "current_password": PASSWORD,
        "new_password": "a-new-long-password"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/login?changed=1"
    assert browser.get("/account", follow_redirects=False).status_code == 303  # logged out
    old = browser.post("/api/v1/auth/token", data={"username": "nurse_a", "password": PASSWORD})
    new = browser.post("/api/v1/auth/token", data={"username": "nurse_a",
                                                   "password": "a-new-long-password"})
    assert old.status_code == 401 and new.status_code == 200


def test_an_administrator_s_reset_forces_a_new_password(app, db: Session, world, web) -> None:
    from fastapi.testclient import TestClient

    from tests.conftest import BASE_URL

    nurse = db.execute(select(User).where(User.username == "nurse_a")).scalar_one()
    users = web["admin"].get("/admin/users")
    reset = web["admin"].post(f"/admin/users/{nurse.id}/reset-password",
                              data={"csrf_token": csrf_of(users.text)})
    temporary = re.search(r"<code>([^<]+)</code>", reset.text).group(1)
    client = TestClient(app, base_url=BASE_URL)
    refused = client.post("/api/v1/auth/token", data={"username": "nurse_a", "password": temporary})
    assert refused.status_code == 401 and "choose a new one" in refused.json()["detail"]
    page = client.get("/login")
    client.post("/login", data={"username": "nurse_a", "password": temporary, "next": "",
                                "csrf_token": csrf_of(page.text)})
    forced = client.get("/dashboard", follow_redirects=False)
    assert forced.status_code == 303 and forced.headers["location"] == "/account/password"
    form = client.get("/account/password")
    assert 'id="must-change"' in form.text
    client.post("/account/password", data={"csrf_token": csrf_of(form.text),
                                           "current_password": temporary,
                                           "new_password": "chosen-by-the-nurse"})
    assert client.post("/api/v1/auth/token", data={
        "username": "nurse_a", "password": "chosen-by-the-nurse"}).status_code == 200


def test_emergency_access_is_reasoned_time_limited_flagged_and_reviewed(
        api, web, world, db: Session, clinic_clock) -> None:
    from ketaclinic.patients.models import PatientMrn

    nurse = web["nurse_a"]  # site A only
    patient_b = world.patients["p_b1"]
    assert nurse.get(f"/patients/{patient_b}").status_code == 404
    mrn = db.execute(select(PatientMrn.mrn).join(PatientMrn.patient).where(
        PatientMrn.patient.has(id=__import__("uuid").UUID(patient_b)))).scalar_one()
    form = nurse.get("/emergency-access")
    short = nurse.post("/emergency-access", data={"csrf_token": csrf_of(form.text), "mrn": mrn,
                                                  "reason": "need it"})
    assert short.status_code == 422 and "reason" in short.text
    opened = nurse.post("/emergency-access", data={
        "csrf_token": csrf_of(form.text), "mrn": mrn,
        "reason": "Brought in unwell at Harbor Point; need her medicines and allergies now"},
        follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/patients/{patient_b}"
    assert nurse.get(f"/patients/{patient_b}").status_code == 200
    flagged = db.execute(select(AuditEvent).where(AuditEvent.action == "break-glass")
                         ).scalar_one()
    assert flagged.patient_id == patient_b and "need her medicines" in flagged.detail
    today = web["admin"].get("/dashboard")
    assert 'id="dashboard-emergency"' in today.text and "need her medicines" in today.text
    assert api["nurse_a"].get(f"/api/v1/patients/{patient_b}").status_code == 200
    clinic_clock.shift(timedelta(minutes=get_settings().emergency_access_min, seconds=1))
    fresh = api_token(api["frontdesk"], world.users["nurse_a"])  # a new login after the hour
    later = api["frontdesk"].get(f"/api/v1/patients/{patient_b}",
                                 headers={"Authorization": f"Bearer {fresh}"})
    assert later.status_code == 404


def test_every_answer_carries_the_security_headers(anon, web) -> None:
    for response in (anon.get("/login"), anon.get("/check"), web["nurse_a"].get("/dashboard"),
                     anon.get("/api/v1/me")):
        headers = response.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"].split("script-src")[1
                                                                                   ].split(";")[0]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["cache-control"] == "no-store"
        assert headers["strict-transport-security"].startswith("max-age=")
    assert "no-store" not in anon.get("/static/app.css").headers.get("cache-control", "")
