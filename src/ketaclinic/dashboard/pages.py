"""The home redirect, the dashboard of today at the user's site, and the health check."""

from collections.abc import Sequence
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.auth import emergency
from ketaclinic.auth import service as auth
from ketaclinic.billing import prices, superbill
from ketaclinic.chair import live_changes
from ketaclinic.clinics import service as clinics
from ketaclinic.clinics.models import Site
from ketaclinic.dashboard import today
from ketaclinic.db import reachable
from ketaclinic.errors import NotFound
from ketaclinic.inventory import discrepancies
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import LANDING_PAGES, Permission, Role, allows
from ketaclinic.measures import alerts as measure_alerts
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient, VitalSigns
from ketaclinic.treatments import rems
from ketaclinic.treatments import service as treatments
from ketaclinic.web.deps import DB, SESSION_COOKIE, require
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.site_choice import SITE_COOKIE, current_site
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, include_in_schema=False)


@router.get("/")
def home(request: Request, db: Session = DB) -> Response:
    """Send the visitor to their role's landing page, or to login."""
    token = auth.resolve_token(db=db, raw=request.cookies.get(SESSION_COOKIE, ""),
                               kinds={auth.TOKEN_WEB})
    target = LANDING_PAGES[Role(token.user.role)] if token else "/login"
    return RedirectResponse(target, status_code=303)


FAVICON = (Path(__file__).parents[1] / "web" / "static" / "favicon.svg").read_bytes()


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """The app's icon, for clients that ask for it by the conventional name."""
    return Response(FAVICON, media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/livez")
def alive() -> Response:
    """Liveness alone, for an orchestrator deciding whether to restart the process: no database
    (an unreachable database must not get every server restarted)."""
    return JSONResponse({"status": "ok"})


@router.get("/healthz")
def health(db: Session = DB) -> Response:
    """Readiness: the process answers and reaches its database, for load balancers."""
    reachable(db)
    return JSONResponse({"status": "ok"})


def _site_for_chairs(request: Request, db: Session, actor: Actor, site: str) -> Site:
    chosen = current_site(request, list(clinics.sites_of(db=db, actor=actor)), site)
    if chosen is None:
        raise NotFound("no site of yours")
    return chosen


@router.get("/dashboard/chairs", response_class=HTMLResponse)
def chairs_in_use(request: Request, site: str = "",
                  actor: Actor = Depends(require(Permission.DASHBOARD)),
                  db: Session = DB) -> Response:
    """The dashboard's chairs in use at the site, as the page shows them (its live part; empty
    for a role that does not see clinical records, as on the page)."""
    chosen = _site_for_chairs(request, db, actor, site)
    chairs = (treatments.active_treatment_sessions(db, chosen.pk)
              if allows(actor.role, Permission.CLINICAL_READ) else [])
    return render(request, "_active_chairs.html", tz=chosen.time_zone, active_chairs=chairs)


@router.get("/dashboard/stream")
def chairs_stream(request: Request, site: str = "", drawn: str = "",
                  actor: Actor = Depends(require(Permission.DASHBOARD)),
                  db: Session = DB) -> StreamingResponse:
    """Server-sent events: 'changed' whenever a session at the site opens, moves on or closes,
    or one of its alarms is raised or acknowledged."""
    chosen = _site_for_chairs(request, db, actor, site)
    return live_changes.stream(request, live_changes.site_watcher, chosen.pk, drawn)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request,
    site: str = "",
    actor: Actor = Depends(require(Permission.DASHBOARD)),
    db: Session = DB,
) -> Response:
    """Today at the user's site, in the site's time zone."""
    sites = list(clinics.sites_of(db=db, actor=actor))
    chosen = current_site(request, sites, site)
    if chosen is None:
        return render(request, "dashboard.html", site=None, sites=[], vitals=[], registered=[])
    tz = ZoneInfo(chosen.time_zone)
    now_local = clock.now().astimezone(tz)
    midnight = datetime.combine(now_local.date(), time.min, tzinfo=tz)
    vitals: Sequence[tuple[VitalSigns, Patient]] = []
    if allows(actor.role, Permission.CLINICAL_READ):
        vitals = patients.vitals_since(db=db, actor=actor, site_pk=chosen.pk, since=midnight)
    registered = patients.registered_since(db=db, actor=actor, site_pk=chosen.pk, since=midnight)
    chairs = (treatments.active_treatment_sessions(db, chosen.pk)
              if allows(actor.role, Permission.CLINICAL_READ) else [])
    rems_due = (rems.due_at_site(db=db, site_pk=chosen.pk)
                if allows(actor.role, Permission.CLINICAL_READ) else [])
    open_alerts = (measure_alerts.open_alerts(db=db, site_pks={chosen.pk})
                   if allows(actor.role, Permission.ALERTS_FOLLOW_UP) else [])
    discrepancies_open = (discrepancies.open_count(db, chosen.pk)
                          if allows(actor.role, Permission.INVENTORY_MANAGE) else None)
    emergencies = (emergency.to_review(db, actor) if allows(actor.role, Permission.USERS_MANAGE)
                   else None)
    appointments = today.appointments(db, actor, chosen, now_local.date())
    stock = today.stock(db, actor, chosen)
    owed = today.owed(db, actor, chosen)
    response = render(request, "dashboard.html", site=chosen, sites=sites, now_local=now_local,
                      vitals=vitals, registered=registered, tz=chosen.time_zone,
                      active_chairs=chairs, rems_due=rems_due, open_alerts=open_alerts,
                      discrepancies_open=discrepancies_open, emergencies=emergencies,
                      appointments=appointments, stock=stock, owed=owed,
                      chair_names={c.pk: c.name for c in chosen.chairs},
                      drawn=live_changes.drawn_for_site(db, chosen.pk),
                      money=superbill.money, currency=prices.currency())
    if site and chosen.code == site:
        response.set_cookie(SITE_COOKIE, chosen.code, httponly=True, samesite="lax", path="/")
    return response
