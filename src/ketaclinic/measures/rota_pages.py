"""The on-call rota page: who escalated alerts at a site go to, set by the administrator."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.clinics import service as clinics
from ketaclinic.clinics.models import Site
from ketaclinic.errors import FieldProblem, InvalidInput
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.measures import on_call
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM, form_action
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

# The form's default on-call day runs from one morning's handover to the next (a form default an
# administrator changes per shift, not a clinical rule).
HANDOVER = time(8)

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)


def _site(db: Session, actor: Actor, code: str) -> Site:
    if code:
        return clinics.site_by_code(db, code, actor)
    sites = clinics.sites_of(db=db, actor=actor)
    if not sites:
        raise InvalidInput([FieldProblem("site", "you work at no site", "a site of yours")])
    return sites[0]


def _local(site: Site, day: str, hh_mm: str, field: str) -> datetime:
    """A day and a clock time typed for the site, as an aware moment in its time zone."""
    try:
        return datetime.combine(datetime.strptime(day.strip(), "%Y-%m-%d").date(),
                                time.fromisoformat(hh_mm.strip()), tzinfo=ZoneInfo(site.time_zone))
    except ValueError:
        raise InvalidInput([FieldProblem(field, f"{day!r} {hh_mm!r} is not a day and time",
                                         "YYYY-MM-DD and HH:MM")]) from None


def current_shift(site: Site, now: datetime) -> dict[str, str]:
    """The form's proposal: the on-call day running now, from one handover to the next (before
    the morning's handover, that is the one that began yesterday morning)."""
    local = now.astimezone(ZoneInfo(site.time_zone))
    start = local.date() - timedelta(days=1 if local.time() < HANDOVER else 0)
    return {"from_day": str(start), "from_time": HANDOVER.strftime("%H:%M"),
            "to_day": str(start + timedelta(days=1)), "to_time": HANDOVER.strftime("%H:%M")}


def _page(request: Request, db: Session, actor: Actor, site: Site, errors: list[str] | None = None,
          values: dict[str, str] | None = None, status_code: int = 200) -> Response:
    now = clock.now()
    shifts = on_call.rota(db=db, site=site, since=now - timedelta(days=1))
    current = on_call.on_call_at(db=db, site_pk=site.pk, at=now)
    return render(request, "measures/on_call.html", status_code=status_code, site=site,
                  sites=clinics.sites_of(db=db, actor=actor), shifts=shifts, current=current,
                  clinicians=on_call.clinicians(db=db, site=site), errors=errors or [],
                  values=values or current_shift(site, now),
                  tz=site.time_zone)


@router.get("/on-call", response_class=HTMLResponse)
def rota_page(request: Request, site: str = "",
              actor: Actor = Depends(require(Permission.SCHEDULE_MANAGE)),
              db: Session = DB) -> Response:
    """The site's on-call rota, who is on call now, and the form to add a shift."""
    return _page(request, db, actor, _site(db, actor, site))


@router.post("/on-call", response_class=HTMLResponse)
def rota_add(request: Request, actor: Actor = Depends(require(Permission.SCHEDULE_MANAGE)),
             db: Session = DB, form: FormData = FORM) -> Response:
    """Put a clinician on call; the form again with the reasons on bad input."""
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    site = _site(db, actor, values.get("site", ""))
    return form_action(db, lambda: on_call.add(
        db=db, site=site, username=values.get("user", ""), actor=actor,
        starts_at=_local(site, values.get("from_day", ""), values.get("from_time", ""), "from"),
        ends_at=_local(site, values.get("to_day", ""), values.get("to_time", ""), "to")),
        done=f"/on-call?site={site.code}",
        again=lambda errors, status: _page(request, db, actor, site, errors, values, status))


@router.post("/on-call/{shift_id}/cancel")
def rota_cancel(shift_id: str, actor: Actor = Depends(require(Permission.SCHEDULE_MANAGE)),
                db: Session = DB) -> Response:
    """Take a shift off the rota (it stays listed, struck through)."""
    shift = on_call.cancel(db=db, shift_id=shift_id, actor=actor)
    return RedirectResponse(f"/on-call?site={on_call.site_code_of(db, shift)}", status_code=303)
