"""Pages for login, two-factor, logout and user administration."""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic.auth import credentials, emergency, totp
from ketaclinic.auth import service as auth
from ketaclinic.auth.models import User
from ketaclinic.clinics import service as clinics
from ketaclinic.errors import Conflict, InvalidInput, RateLimited
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import LANDING_PAGES, Permission, Role
from ketaclinic.settings import get_settings
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, SESSION_COOKIE, client_of, require
from ketaclinic.web.forms import FORM, form_action, form_values, undo_refused
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)

PENDING_COOKIE = "kc_pending"


def own_user(actor: Actor = Depends(require(Permission.ACCOUNT)), db: Session = DB) -> User:
    """The signed-in user's own row, for the account pages."""
    return auth.user_of(db, actor)


OWN_USER: Any = Depends(own_user)


def _safe_next(value: str) -> str:
    """Only same-site relative paths are followed after login."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


def _set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=get_settings().cookie_secure, path="/")


def _finish_login(db: Session, request: Request, user: User, next_url: str, how: str) -> Response:
    client = client_of(request)
    raw, _ = auth.issue_token(db=db, user=user, kind=auth.TOKEN_WEB, client=client)
    auth.record_login(db=db, user=user, client=client, how=how)
    response = RedirectResponse(_safe_next(next_url) or LANDING_PAGES[Role(user.role)], status_code=303)
    _set_cookie(response, SESSION_COOKIE, raw)
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> Response:
    """The login page."""
    return render(request, "auth/login.html", next=_safe_next(next), username="", error="",
                  ask_code=False)


@router.post("/login")
def login_submit(request: Request, db: Session = DB, form: FormData = FORM) -> Response:
    """Check the password, then finish the login or ask for the two-factor step."""
    username = str(form.get("username", ""))[:150]
    password = str(form.get("password", ""))[:1000]
    next_url = _safe_next(str(form.get("next", "")))
    client = client_of(request)
    # The code field is shown after a lock-out: password and code together still sign in.
    code = str(form.get("code", "")).strip()[:10] or None
    try:
        result = credentials.check(db=db, username=username, password=password, address=client,
                                   purpose="web", code=code)
    except RateLimited as exc:
        response = render(request, "auth/login.html", status_code=429, next=next_url,
                          username=username, error=exc.detail, ask_code=False)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    user = result.user
    if user is None:
        return render(request, "auth/login.html", status_code=401, next=next_url,
                      username=username, error=result.message,
                      ask_code=code is not None or "two-factor code" in result.message)
    if code is not None or result.next_step == credentials.DONE:
        return _finish_login(db, request, user, next_url,
                             "password + totp" if code is not None else "password")
    if result.next_step == credentials.ASK_CODE:
        kind = auth.TOKEN_MFA_PENDING
        target = "/login/mfa"
    else:
        kind = auth.TOKEN_MFA_ENROL
        target = "/login/enrol"
    raw, _ = auth.issue_token(db=db, user=user, kind=kind, client=client)
    onward = RedirectResponse(f"{target}?next={next_url}", status_code=303)
    _set_cookie(onward, PENDING_COOKIE, raw, max_age=auth.HALF_LOGIN_MIN * 60)
    return onward


def _pending_user(db: Session, request: Request, kind: str) -> User | None:
    token = auth.resolve_token(db=db, raw=request.cookies.get(PENDING_COOKIE, ""), kinds={kind})
    return token.user if token else None


@router.get("/login/mfa", response_class=HTMLResponse)
def mfa_form(request: Request, next: str = "", db: Session = DB) -> Response:
    """Ask for the six-digit code after a correct password."""
    if _pending_user(db, request, auth.TOKEN_MFA_PENDING) is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "auth/mfa.html", next=_safe_next(next), error="")


@router.post("/login/mfa")
def mfa_submit(request: Request, db: Session = DB, form: FormData = FORM) -> Response:
    """Check the two-factor code and finish the login."""
    next_url = _safe_next(str(form.get("next", "")))
    user = _pending_user(db, request, auth.TOKEN_MFA_PENDING)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    try:
        passed = credentials.check_code(db=db, user=user, code=str(form.get("code", "")),
                                        address=client_of(request), purpose="web")
    except RateLimited as exc:
        return render(request, "auth/mfa.html", status_code=429, next=next_url, error=exc.detail)
    if not passed:
        return render(request, "auth/mfa.html", status_code=401, next=next_url,
                      error="That code is not right. Enter the 6 digits your app shows now.")
    auth.revoke_token(db=db, raw=request.cookies.get(PENDING_COOKIE, ""))
    return _finish_login(db, request, user, next_url, "password + totp")


def _enrol_page(request: Request, user: User, next_url: str, error: str,
                status_code: int = 200) -> Response:
    assert user.totp_secret
    uri = totp.provisioning_uri(user.totp_secret, user.username)
    return render(request, "auth/enrol.html", status_code=status_code, next=next_url,
                  error=error, qr=totp.qr_svg(uri), secret=user.totp_secret)


@router.get("/login/enrol", response_class=HTMLResponse)
def enrol_form(request: Request, next: str = "", db: Session = DB) -> Response:
    """Set up two-factor, required for this role before the first login completes."""
    user = _pending_user(db, request, auth.TOKEN_MFA_ENROL)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if not user.totp_secret:
        auth.start_enrolment(db=db, user=user)
    return _enrol_page(request, user, _safe_next(next), "")


@router.post("/login/enrol")
def enrol_submit(request: Request, db: Session = DB, form: FormData = FORM) -> Response:
    """Confirm the authenticator app's code, turn two-factor on and finish the login."""
    next_url = _safe_next(str(form.get("next", "")))
    user = _pending_user(db, request, auth.TOKEN_MFA_ENROL)
    if user is None or not user.totp_secret:
        return RedirectResponse("/login", status_code=303)
    try:
        auth.confirm_enrolment(db=db, user=user, code=str(form.get("code", "")),
                               client=client_of(request))
    except InvalidInput as exc:
        undo_refused(db, exc)
        return _enrol_page(request, user, next_url, exc.detail, status_code=422)
    auth.revoke_token(db=db, raw=request.cookies.get(PENDING_COOKIE, ""))
    return _finish_login(db, request, user, next_url, "password + totp enrolment")


@router.post("/logout")
def logout(
    request: Request,
    actor: Actor = Depends(require(Permission.ACCOUNT)),
    db: Session = DB,
) -> Response:
    """End this login and every API token of the user."""
    assert actor.user_pk is not None
    auth.revoke_all(db=db, user_pk=actor.user_pk)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, user: User = OWN_USER) -> Response:
    """The user's own account: role, sites, two-factor status."""
    return render(request, "auth/account.html", user=user, qr="", error="")


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, user: User = OWN_USER) -> Response:
    """Change one's own password (the only page open after an administrator's reset)."""
    return render(request, "auth/password.html", forced=user.must_change_password, errors=[])


@router.post("/account/password", response_class=HTMLResponse)
def password_submit(request: Request, user: User = OWN_USER, db: Session = DB,
                    form: FormData = FORM) -> Response:
    """Check the current password, set the new one, end every login (log in again)."""
    forced = user.must_change_password
    response = form_action(db, lambda: auth.change_password(
        db=db, user=user, current=str(form.get("current_password", "")),
        new=str(form.get("new_password", "")), client=client_of(request)),
        done="/login?changed=1",
        again=lambda errors, status: render(request, "auth/password.html", status_code=status,
                                            forced=forced, errors=errors))
    if response.status_code == 303:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/account/email")
def account_email(request: Request, actor: Actor = Depends(require(Permission.ACCOUNT)),
                  user: User = OWN_USER, db: Session = DB, form: FormData = FORM) -> Response:
    """Set one's own email address (escalated alerts reach it when on call)."""
    typed = str(form.get("email", ""))
    return form_action(db, lambda: auth.set_email(db=db, user=user, email=typed, actor=actor),
                       done="/account",
                       again=lambda errors, status: render(
                           request, "auth/account.html", status_code=status,
                           user=auth.user_of(db, actor), qr="", error="",
                           email_error="; ".join(errors), email_value=typed))


@router.post("/account/mfa")
def account_mfa(request: Request, user: User = OWN_USER, db: Session = DB,
                form: FormData = FORM) -> Response:
    """Start, or confirm with a code, optional two-factor for one's own account."""
    code = str(form.get("code", ""))
    error = ""
    try:
        if not code:
            auth.start_enrolment(db=db, user=user)
        else:
            auth.confirm_enrolment(db=db, user=user, code=code, client=client_of(request))
    except (InvalidInput, Conflict) as exc:
        error = exc.detail
    qr = ""
    if user.totp_secret and not user.totp_enabled:
        qr = totp.qr_svg(totp.provisioning_uri(user.totp_secret, user.username))
    return render(request, "auth/account.html", status_code=422 if error else 200, user=user,
                  qr=qr, error=error)


@router.get("/admin/users", response_class=HTMLResponse)
def users_list(
    request: Request,
    actor: Actor = Depends(require(Permission.USERS_MANAGE)),
    db: Session = DB,
) -> Response:
    """The users of the administrator's sites, their role, sites and two-factor status."""
    return render(request, "auth/users.html", users=_managed_users(db, actor))


def _managed_users(db: Session, actor: Actor) -> list[User]:
    return auth.managed_users(db, actor, auth.all_users(db))


def _user_form(request: Request, db: Session, actor: Actor, values: dict[str, str], errors: list[str],
               status_code: int = 200) -> Response:
    sites = sorted(clinics.sites_of(db=db, actor=actor), key=lambda site: site.name)
    return render(request, "auth/user_new.html", status_code=status_code, sites=sites,
                  roles=list(Role), values=values, errors=errors)


@router.post("/admin/users/{user_id}/{action}")
def user_action(
    request: Request,
    user_id: str,
    action: str,
    actor: Actor = Depends(require(Permission.USERS_MANAGE)),
    db: Session = DB,
) -> Response:
    """Deactivate, reactivate, unlock, end all logins of, reset the two-factor set-up of, or
    reset the password of a user (the temporary password is shown once, here)."""
    if action == "reset-password":
        user, temporary = auth.reset_password(db=db, user_id=user_id, actor=actor)
        return render(request, "auth/users.html", users=_managed_users(db, actor),
                      temporary={"username": user.username, "password": temporary})
    auth.administer(db=db, user_id=user_id, action=action, actor=actor)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/users/new", response_class=HTMLResponse)
def user_new_form(
    request: Request,
    actor: Actor = Depends(require(Permission.USERS_MANAGE)),
    db: Session = DB,
) -> Response:
    """The form to add a user."""
    return _user_form(request, db, actor, {}, [])


@router.post("/admin/users/new")
def user_new_submit(
    request: Request,
    actor: Actor = Depends(require(Permission.USERS_MANAGE)),
    db: Session = DB, form: FormData = FORM) -> Response:
    """Create a user; on bad input show the form again with the reasons."""
    values = {k: v for k, v in form_values(form).items() if k != "password"}
    return form_action(db, lambda: auth.create_user(
        db=db, username=values.get("username", ""), display_name=values.get("display_name", ""),
        role=values.get("role", ""), password=str(form.get("password", "")),
        site_codes=[str(s) for s in form.getlist("sites")],
        patient_id=values.get("patient_id") or None, email=values.get("email", ""), actor=actor),
        done="/admin/users",
        again=lambda errors, status: _user_form(request, db, actor, values, errors, status))


@router.get("/emergency-access", response_class=HTMLResponse)
def emergency_form(request: Request, actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                   db: Session = DB) -> Response:
    """Open a record outside one's sites in an emergency, after saying why."""
    return render(request, "auth/emergency.html", errors=[], values={},
                  minutes=get_settings().emergency_access_min)


@router.post("/emergency-access", response_class=HTMLResponse)
def emergency_submit(request: Request,
                     actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                     db: Session = DB, form: FormData = FORM) -> Response:
    """Grant the emergency access (audited, time-limited, reviewed) and open the chart."""
    values = form_values(form)
    return form_action(db, lambda: emergency.open_record(
        db=db, mrn=values.get("mrn", ""), reason=values.get("reason", ""), actor=actor),
        done=lambda opened: f"/patients/{opened[0].id}",
        again=lambda errors, status: render(request, "auth/emergency.html", status_code=status,
                                            errors=errors, values=values,
                                            minutes=get_settings().emergency_access_min))


@router.post("/emergency-access/{access_id}/review")
def emergency_review(request: Request, access_id: str,
                     actor: Actor = Depends(require(Permission.USERS_MANAGE)),
                     db: Session = DB, form: FormData = FORM) -> Response:
    """An administrator marks an emergency access reviewed, with a note."""
    emergency.review(db=db, access_id=access_id, note=str(form.get("note", "")), actor=actor)
    return RedirectResponse("/dashboard", status_code=303)
