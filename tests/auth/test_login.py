"""Web login, lock-out, idle time-out, logout, CSRF, API tokens and two-factor."""

from datetime import timedelta

from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit.models import AuditEvent
from ketaclinic.auth import totp
from ketaclinic.auth.models import AccessToken, User
from ketaclinic.settings import get_settings
from ketaclinic.web import csrf
from ketaclinic.web.deps import SESSION_COOKIE
from tests.conftest import BASE_URL, PASSWORD, csrf_of, totp_now, web_login


def _post_login(client: TestClient, username: str, password: str):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "next": "",
                                       "csrf_token": csrf_of(page.text)}, follow_redirects=False)


def test_login_sets_a_safe_cookie_and_lands_by_role(anon: TestClient, world, db: Session) -> None:
    response = _post_login(anon, "nurse_a", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert anon.get("/dashboard").status_code == 200
    stored = db.execute(select(AccessToken.token_hash)).scalars().all()
    raw = anon.cookies[SESSION_COOKIE]
    assert raw not in stored, "only a hash of the token is stored"


def test_each_role_lands_on_its_own_page(app, world, db: Session) -> None:
    expected = {"admin": "/dashboard", "prescriber": "/dashboard", "nurse_a": "/dashboard",
                "frontdesk": "/dashboard", "patient_a1": "/me"}
    for username, landing in expected.items():
        client = web_login(TestClient(app, base_url=BASE_URL), world.users[username])
        home = client.get("/", follow_redirects=False)
        assert home.headers["location"] == landing, username
        assert client.get(landing).status_code == 200, username
    assert TestClient(app, base_url=BASE_URL).get("/", follow_redirects=False).headers[
        "location"] == "/login"


def test_wrong_password_is_rejected_and_audited(anon: TestClient, db: Session) -> None:
    response = _post_login(anon, "nurse_a", "wrong-password")
    assert response.status_code == 401 and "Username or password is wrong." in response.text
    last = db.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    assert (last.action, last.created_by) == ("login-failed", "nurse_a")
    unknown = _post_login(anon, "nobody", "whatever-password")
    assert unknown.status_code == 401 and "Username or password is wrong." in unknown.text


def test_five_failures_lock_the_account(anon: TestClient, db: Session, clinic_clock) -> None:
    limit = get_settings().lockout_failed_attempts
    for _ in range(limit):
        assert _post_login(anon, "nurse_a", "wrong-password").status_code == 401
    locked = _post_login(anon, "nurse_a", PASSWORD)
    assert locked.status_code == 401 and "Too many failed attempts" in locked.text
    api = anon.post("/api/v1/auth/token", data={"username": "nurse_a", "password": PASSWORD})
    assert api.status_code == 401
    user = db.execute(select(User).where(User.username == "nurse_a")).scalar_one()
    minutes = (user.locked_until - clock.now()).total_seconds() / 60
    assert get_settings().lockout_min - 1 < minutes <= get_settings().lockout_min
    # The lock ends with its window (the clinic's clock moves on) or an administrator's unlock.
    clinic_clock.shift(timedelta(minutes=get_settings().lockout_min, seconds=1))
    assert _post_login(anon, "nurse_a", PASSWORD).status_code == 303


def test_idle_login_expires(anon: TestClient, world, db: Session) -> None:
    web_login(anon, world.users["nurse_a"])
    assert anon.get("/dashboard").status_code == 200
    idle = timedelta(minutes=get_settings().session_idle_timeout_min, seconds=1)
    db.execute(update(AccessToken).values(last_seen_at=clock.now() - idle))
    response = anon.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/dashboard"


def test_logout_ends_the_login(anon: TestClient, world, db: Session) -> None:
    web_login(anon, world.users["nurse_a"])
    csrf = csrf_of(anon.get("/account").text)
    assert anon.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    anon.cookies.set(SESSION_COOKIE, "", domain="testserver")
    assert anon.get("/dashboard", follow_redirects=False).status_code == 303


def test_logout_revokes_the_token_server_side(anon: TestClient, world, db: Session) -> None:
    web_login(anon, world.users["nurse_a"])
    raw = anon.cookies[SESSION_COOKIE]
    csrf = csrf_of(anon.get("/account").text)
    anon.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    replay = TestClient(anon.app, base_url=BASE_URL, cookies={SESSION_COOKIE: raw})
    assert replay.get("/dashboard", follow_redirects=False).status_code == 303


def test_form_without_csrf_token_is_refused(anon: TestClient, world, db: Session) -> None:
    anon.get("/login")
    response = anon.post("/login", data={"username": "nurse_a", "password": PASSWORD})
    assert response.status_code == 403 and "form expired" in response.text
    web_login(anon, world.users["nurse_a"])
    forged = anon.post("/patients/new", data={"csrf_token": "0" * 64, "family_name": "X"})
    assert forged.status_code == 403


def test_the_csrf_cookie_comes_with_the_first_form_and_only_then(anon: TestClient, api,
                                                                  world, db: Session) -> None:
    def csrf_cookies(response) -> list[str]:
        return [h for h in response.headers.get_list("set-cookie") if h.startswith("kc_csrf=")]

    patient = world.patients["p_a1"]
    for response in (anon.get("/livez"), anon.get("/healthz"),
                     api["nurse_a"].get(f"/api/v1/patients/{patient}"),
                     api["nurse_a"].get(f"/fhir/Patient/{patient}")):
        assert response.status_code == 200 and csrf_cookies(response) == [], response.url
    page = anon.get("/login")
    (cookie,) = csrf_cookies(page)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    seed = cookie.split(";")[0].removeprefix("kc_csrf=")
    assert csrf_of(page.text) == csrf.csrf_token(_with_cookie(seed))
    assert csrf_cookies(anon.get("/login")) == []  # the browser has it now
    assert _post_login(anon, "nurse_a", PASSWORD).status_code == 303


def _with_cookie(seed: str) -> Request:
    return Request({"type": "http", "headers": [(b"cookie", f"kc_csrf={seed}".encode())]})


def test_api_token_flow(anon: TestClient, world, db: Session) -> None:
    bad = anon.post("/api/v1/auth/token", data={"username": "nurse_a", "password": "nope-nope"})
    assert bad.status_code == 401 and bad.headers["content-type"] == "application/problem+json"
    good = anon.post("/api/v1/auth/token", data={"username": "nurse_a", "password": PASSWORD})
    body = good.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    me = anon.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["role"] == "nurse" and me.json()["sites"] == ["A"]
    cookie_only = anon.get("/api/v1/me")
    assert cookie_only.status_code == 401, "the API takes bearer tokens, not cookies"


def test_api_token_needs_the_second_factor_when_enrolled(anon: TestClient, world, db: Session) -> None:
    user = world.users["prescriber"]
    without = anon.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
    assert without.status_code == 401 and "two-factor" in without.json()["detail"]
    with_code = anon.post("/api/v1/auth/token", data={
        "username": user.username, "password": PASSWORD, "totp": totp_now(user)})
    assert with_code.status_code == 200


def test_web_login_with_two_factor(anon: TestClient, world, db: Session) -> None:
    user = world.users["prescriber"]
    first = _post_login(anon, user.username, PASSWORD)
    assert first.headers["location"].startswith("/login/mfa")
    assert anon.get("/dashboard", follow_redirects=False).status_code == 303
    page = anon.get(first.headers["location"])
    wrong = anon.post("/login/mfa", data={"code": "000000", "next": "",
                                          "csrf_token": csrf_of(page.text)})
    assert wrong.status_code == 401
    right = anon.post("/login/mfa", data={"code": totp_now(user), "next": "",
                                          "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/dashboard"
    assert anon.get("/dashboard").status_code == 200


def test_prescriber_without_two_factor_must_enrol_first(anon: TestClient, db: Session) -> None:
    db.execute(update(User).where(User.username == "prescriber")
               .values(totp_enabled=False, totp_secret=None))
    first = _post_login(anon, "prescriber", PASSWORD)
    assert first.headers["location"].startswith("/login/enrol")
    page = anon.get(first.headers["location"])
    assert page.status_code == 200 and "<svg" in page.text
    secret = db.execute(select(User.totp_secret).where(User.username == "prescriber")).scalar_one()
    assert secret and secret in page.text
    done = anon.post("/login/enrol", data={"code": totp.current_code(secret), "next": "",
                                           "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/dashboard"
    assert db.execute(select(User.totp_enabled).where(User.username == "prescriber")).scalar_one()


def test_optional_two_factor_for_a_nurse(anon: TestClient, world, db: Session) -> None:
    web_login(anon, world.users["nurse_a"])
    page = anon.get("/account")
    assert 'id="mfa-status">off' in page.text
    started = anon.post("/account/mfa", data={"csrf_token": csrf_of(page.text)})
    assert "<svg" in started.text
    secret = db.execute(select(User.totp_secret).where(User.username == "nurse_a")).scalar_one()
    bad = anon.post("/account/mfa", data={"csrf_token": csrf_of(page.text), "code": "123456"})
    assert bad.status_code == 422
    good = anon.post("/account/mfa", data={"csrf_token": csrf_of(page.text),
                                           "code": totp.current_code(secret)})
    assert 'id="mfa-status">on' in good.text


def test_open_redirect_is_not_followed(anon: TestClient, db: Session) -> None:
    page = anon.get("/login")
    response = anon.post("/login", data={"username": "nurse_a", "password": PASSWORD,
                                         "next": "//evil.example/", "csrf_token": csrf_of(page.text)},
                         follow_redirects=False)
    assert response.headers["location"] == "/dashboard"


def _user_id(db: Session, username: str) -> str:
    return str(db.execute(select(User.id).where(User.username == username)).scalar_one())


def test_admin_deactivates_unlocks_and_resets_two_factor(web, api, world, db: Session) -> None:
    admin = web["admin"]
    page = admin.get("/admin/users")
    assert "nurse_a" in page.text and "Deactivate" in page.text
    csrf = csrf_of(page.text)
    nurse_api = api["nurse_a"]
    assert nurse_api.get("/api/v1/me").status_code == 200
    nurse_id = _user_id(db, "nurse_a")
    done = admin.post(f"/admin/users/{nurse_id}/deactivate", data={"csrf_token": csrf},
                      follow_redirects=False)
    assert done.status_code == 303
    assert nurse_api.get("/api/v1/me").status_code == 401, "deactivation ends live logins"
    assert _post_login(TestClient(admin.app, base_url=BASE_URL), "nurse_a", PASSWORD
                       ).status_code == 401
    admin.post(f"/admin/users/{nurse_id}/reactivate", data={"csrf_token": csrf})
    db.execute(update(User).where(User.username == "nurse_a").values(locked_until=clock.now() +
                                                                      timedelta(minutes=10)))
    admin.post(f"/admin/users/{nurse_id}/unlock", data={"csrf_token": csrf})
    assert _post_login(TestClient(admin.app, base_url=BASE_URL), "nurse_a", PASSWORD
                       ).status_code == 303
    prescriber_id = _user_id(db, "prescriber")
    admin.post(f"/admin/users/{prescriber_id}/reset-two-factor", data={"csrf_token": csrf})
    again = _post_login(TestClient(admin.app, base_url=BASE_URL), "prescriber", PASSWORD)
    assert again.headers["location"].startswith("/login/enrol")
    actions = db.execute(select(AuditEvent.detail).where(AuditEvent.action == "update",
                                                         AuditEvent.record_type == "User")
                         ).scalars().all()
    assert {"deactivate", "reactivate", "unlock", "reset-two-factor"} <= set(actions)


def test_admin_cannot_deactivate_themselves_or_do_unknown_things(web, db: Session) -> None:
    admin = web["admin"]
    csrf = csrf_of(admin.get("/admin/users").text)
    me = _user_id(db, "admin")
    assert admin.post(f"/admin/users/{me}/deactivate", data={"csrf_token": csrf}).status_code == 409
    assert admin.post(f"/admin/users/{me}/promote", data={"csrf_token": csrf}).status_code == 422
    assert admin.post("/admin/users/nope/unlock", data={"csrf_token": csrf}).status_code == 404
