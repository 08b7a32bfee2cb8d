"""SMART App Launch pages: the user approves or denies an app's request (their own login and
two-factor first), and later sees and revokes the apps they allowed."""

from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.auth import clients, oauth_server, scopes
from ketaclinic.auth import service as auth
from ketaclinic.auth.models import User
from ketaclinic.errors import InvalidInput
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.patients import service as patients
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM, form_values
from ketaclinic.web.headers import csp_sending_forms_to
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)
SIGNED_IN = Depends(require(Permission.ACCOUNT))
# The authorization request's own parameters, carried through the consent form.
REQUEST_FIELDS = ("response_type", "client_id", "redirect_uri", "scope", "state", "aud",
                  "code_challenge", "code_challenge_method", "nonce", "launch")
ACTIONS = {"s": "search", "r": "read", "c": "create", "u": "update", "d": "delete"}
CONTEXTS = {"patient": "one patient's record", "user": "what you may see",
            "system": "the whole site"}


def describe_scope(scope: str) -> str:
    """A scope in words a user can weigh before approving."""
    special = {"openid": "Confirm who you are", "fhirUser": "Know which record is yours",
               "launch/patient": "Know which patient's record it is opened for",
               "offline_access": "Keep access until you revoke it (refresh tokens)",
               "online_access": "Keep access while you are signed in"}
    if scope in special:
        return special[scope]
    parsed = scopes.parse(scope)
    if parsed is None:
        return scope
    kinds = "all record kinds" if parsed.resource_type == "*" else parsed.resource_type
    verbs = ", ".join(ACTIONS[p] for p in "rscud" if p in parsed.permissions)
    return f"{verbs.capitalize()} {kinds} in {CONTEXTS[parsed.context]}"


def _params(source: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in source.items() if k in REQUEST_FIELDS}


def _refused(request: Request, message: str) -> Response:
    return render(request, "auth/consent_refused.html", status_code=400, message=message)


def _to_app(error: OAuth2Error) -> Response:
    _, _, headers = error()
    return RedirectResponse(dict(headers)["Location"], status_code=303)


def _consent(request: Request, db: Session, user: User, params: dict[str, str],
             errors: list[str], status_code: int = 200) -> Response:
    try:
        _, grant = oauth_server.consent_grant(db, user=user, params=params,
                                              headers=dict(request.headers), now=clock.now())
    except oauth_server.AuthorizationRefused as exc:
        return _refused(request, str(exc))
    except OAuth2Error as error:
        return _to_app(error)
    client = grant.request.client
    asked = (client.get_allowed_scope(params.get("scope")) or "").split()
    own = patients.own_record(db, auth.actor_for(user)) if user.patient_pk is not None else None
    page = render(request, "auth/consent.html", status_code=status_code, app=client.row,
                  kind=clients.KINDS[client.row.kind], asked=[(s, describe_scope(s)) for s in asked],
                  refused=[s for s in (params.get("scope") or "").split() if s not in asked],
                  params=params, own=own, wants_patient="launch/patient" in asked and own is None,
                  errors=errors)
    # The answer to this form sends the browser on to the app: allowed for its redirect URI's
    # origin only (authlib has checked it is one the app registered).
    target = urlsplit(params.get("redirect_uri") or client.get_default_redirect_uri() or "")
    page.headers["content-security-policy"] = csp_sending_forms_to(
        f"{target.scheme}://{target.netloc}")
    return page


@router.get("/oauth/authorize", response_class=HTMLResponse)
def authorize_page(request: Request, actor: Actor = SIGNED_IN, db: Session = DB) -> Response:
    """The consent screen for an app's authorization request (the user is signed in first)."""
    return _consent(request, db, auth.user_of(db, actor), _params(dict(request.query_params)), [])


def _launch_patient(db: Session, actor: Actor, user: User, typed: str) -> int | None:
    if user.patient_pk is not None:
        return user.patient_pk
    if not typed.strip():
        return None
    found = patients.find_by_id_or_mrn(db=db, actor=actor, text=typed.strip())
    if found is None:
        raise InvalidInput([])
    return found


@router.post("/oauth/authorize")
def authorize_decision(request: Request, actor: Actor = SIGNED_IN, db: Session = DB,
                       form: FormData = FORM) -> Response:
    """Approve or deny: the browser goes back to the app with a code or `access_denied`."""
    user = auth.user_of(db, actor)
    values = form_values(form)
    params = _params(values)
    approved = values.get("decision") == "approve"
    try:
        patient_pk = _launch_patient(db, actor, user, values.get("patient", "")) \
            if approved else None
    except InvalidInput:
        return _consent(request, db, user, params, [
            "Patient: no patient at your sites has that record id or MRN (accepted: the id in "
            "the chart's address, or the MRN)"], 422)
    try:
        location = oauth_server.authorization_redirect(
            db, user=user, params=params, headers=dict(request.headers), approved=approved,
            patient_pk=patient_pk, now=clock.now())
    except oauth_server.AuthorizationRefused as exc:
        return _refused(request, str(exc))
    except OAuth2Error as error:
        return _to_app(error)
    return RedirectResponse(location, status_code=303)


@router.get("/account/apps", response_class=HTMLResponse)
def apps_page(request: Request, actor: Actor = SIGNED_IN, db: Session = DB) -> Response:
    """The apps the user allowed, with what each may do, and a way to revoke each."""
    user = auth.user_of(db, actor)
    approvals = oauth_server.approvals_of(db, user, clock.now())
    return render(request, "auth/apps.html", approvals=[
        (app, [describe_scope(s) for s in granted.split()]) for app, granted in approvals])


@router.post("/account/apps/{client_ref}/revoke")
def revoke_app(client_ref: str, actor: Actor = SIGNED_IN, db: Session = DB) -> Response:
    """Revoke an app: its access and refresh tokens stop working at once."""
    oauth_server.revoke_approval(db, user=auth.user_of(db, actor), client_ref=client_ref,
                                 now=clock.now())
    return RedirectResponse("/account/apps", status_code=303)
