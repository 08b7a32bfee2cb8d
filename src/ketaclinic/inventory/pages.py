"""Pages for the controlled-substance ledger: stock on hand, the blind count for nurses; receipts,
discrepancies and reports for administrators (draw and waste at the chair are on the chair page)."""

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.clinics import service as clinics
from ketaclinic.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
    invalid,
)
from ketaclinic.inventory import catalogue, counts, discrepancies, report_router, schemas, service
from ketaclinic.inventory.forms import witness_of
from ketaclinic.inventory.models import StockCount
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission, allows
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM, form_action, parse_form, validate
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render
from ketaclinic.wire_types import IsoDate

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)


@router.get("/inventory", response_class=HTMLResponse)
def stock_page(request: Request, actor: Actor = Depends(require(Permission.INVENTORY_VIEW)),
               db: Session = DB) -> Response:
    """Stock on hand at the user's sites, by cabinet, with the day's counts."""
    cabinets = catalogue.cabinets(db, actor)
    containers = service.containers_at(db, actor)
    recent = counts.recent(db, [c.pk for c, _ in cabinets])
    names = {c.pk: f"{s.code} {c.name}" for c, s in cabinets}
    return render(request, "inventory/stock.html", cabinets=cabinets, containers=containers,
                  recent=recent, names=names,
                  can_count=allows(actor.role, Permission.INVENTORY_USE),
                  can_manage=allows(actor.role, Permission.INVENTORY_MANAGE))


def _count_form(request: Request, db: Session, actor: Actor, cabinet_id: str,
                errors: list[str] | None = None, form: Any = None,
                status_code: int = 200) -> Response:
    cabinet = service.location(db, cabinet_id, actor)
    items = counts.to_count(db, cabinet)
    return render(request, "inventory/count.html", cabinet=cabinet, items=items,
                  errors=errors or [], form=form or {}, status_code=status_code)


@router.get("/inventory/cabinets/{cabinet_id}/count", response_class=HTMLResponse)
def count_page(request: Request, cabinet_id: str,
               actor: Actor = Depends(require(Permission.INVENTORY_USE)),
               db: Session = DB) -> Response:
    """The blind count sheet for a cabinet: two people count every container."""
    return _count_form(request, db, actor, cabinet_id)


@router.post("/inventory/cabinets/{cabinet_id}/count", response_class=HTMLResponse)
def count_submit(request: Request, cabinet_id: str,
                 actor: Actor = Depends(require(Permission.INVENTORY_USE)),
                 db: Session = DB, form: FormData = FORM) -> Response:
    """Store the count; variances open discrepancies."""
    def count() -> StockCount:
        cabinet = service.location(db, cabinet_id, actor)
        second = witness_of(form, "second")
        if second is None:
            raise InvalidInput([FieldProblem(
                "second_username", "a second person must count and sign in",
                "another nurse or prescriber's username and password")])
        counter = service.witness_of(db, second, actor, cabinet.site_pk)
        first = {k.removeprefix("first."): str(v) for k, v in form.items() if k.startswith("first.")}
        theirs = {k.removeprefix("second."): str(v) for k, v in form.items()
                  if k.startswith("second.")}
        return counts.record(db=db, cabinet=cabinet, first=first, second=theirs,
                             second_counter=counter, actor=actor)

    return form_action(db, count, done=lambda stored: f"/inventory/counts/{stored.id}",
                       again=lambda errors, status: _count_form(
                           request, db, actor, cabinet_id, errors, dict(form.items()), status),
                       refusals=(InvalidInput, Conflict, Forbidden))


@router.get("/inventory/counts/{count_id}", response_class=HTMLResponse)
def count_result(request: Request, count_id: str,
                 actor: Actor = Depends(require(Permission.INVENTORY_VIEW)),
                 db: Session = DB) -> Response:
    """A stored count: each container counted against the ledger."""
    count = counts.by_id(db, count_id)
    names = {c.pk: (c, s) for c, s in catalogue.cabinets(db, actor)}
    if count.location_pk not in names:
        raise NotFound("no such count")
    cabinet, site = names[count.location_pk]
    lines = counts.lines_of(db, count)
    return render(request, "inventory/count_result.html", count=count, cabinet=cabinet,
                  site=site, lines=lines, tz=site.time_zone)


@router.get("/inventory/receive", response_class=HTMLResponse)
def receive_page(request: Request, actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
                 db: Session = DB) -> Response:
    """The receipt form: containers on a supplier's invoice into a cabinet."""
    return _receive_form(request, db, actor)


def _receive_form(request: Request, db: Session, actor: Actor, errors: list[str] | None = None,
                  form: Any = None, status_code: int = 200) -> Response:
    products = catalogue.products(db)
    cabinets = catalogue.cabinets(db, actor)
    return render(request, "inventory/receive.html", products=products, cabinets=cabinets,
                  errors=errors or [], form=form or {}, status_code=status_code)


@router.post("/inventory/receive", response_class=HTMLResponse)
def receive_submit(request: Request,
                   actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
                   db: Session = DB, form: FormData = FORM) -> Response:
    """Store a receipt; back to the stock page."""
    # A product or cabinet not found is a wrong choice on the form here, not a missing page.
    return form_action(db, lambda: service.receive(
        db=db, data=parse_form(schemas.ReceiveIn, form), actor=actor),
        done="/inventory",
        again=lambda errors, status: _receive_form(request, db, actor, errors, dict(form.items()),
                                                   422 if status == 404 else status),
        refusals=(InvalidInput, Conflict, NotFound))


def _discrepancy_page(request: Request, db: Session, actor: Actor,
                      errors: dict[str, list[str]] | None = None,
                      status_code: int = 200) -> Response:
    listed = discrepancies.listed(db, actor, include_resolved=True)
    sites = {s.pk: s for s in clinics.sites_of(db=db, actor=actor)}
    sessions = service.treatment_sessions_by_pk(db, [d.session_pk for d in listed if d.session_pk])
    return render(request, "inventory/discrepancies.html", items=listed, sites=sites,
                  sessions=sessions, errors=errors or {}, status_code=status_code)


@router.get("/inventory/discrepancies", response_class=HTMLResponse)
def discrepancies_page(request: Request,
                       actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
                       db: Session = DB) -> Response:
    """Open discrepancies first, then the resolved ones with who resolved them and why."""
    return _discrepancy_page(request, db, actor)


@router.post("/inventory/discrepancies/{discrepancy_id}/resolve", response_class=HTMLResponse)
def resolve_page(request: Request, discrepancy_id: str,
                 actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
                 db: Session = DB, form: FormData = FORM) -> Response:
    """Resolve with a reason (and, with a witness, bring the ledger in line)."""
    def resolve() -> None:
        found = discrepancies.get(db, discrepancy_id, actor)
        data = validate(schemas.ResolveIn, {"reason": str(form.get("reason", "")).strip(),
                                            "witness": witness_of(form)})
        witness_user = (service.witness_of(db, data.witness, actor, found.site_pk)
                        if data.witness else None)
        discrepancies.resolve(db=db, discrepancy=found, reason=data.reason, actor=actor,
                              witness_user=witness_user)

    return form_action(db, resolve, done="/inventory/discrepancies",
                       again=lambda errors, status: _discrepancy_page(
                           request, db, actor, {discrepancy_id: errors}, status),
                       refusals=(InvalidInput, Conflict, Forbidden))


@router.get("/inventory/reports", response_class=HTMLResponse)
def reports_page(request: Request, actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
                 db: Session = DB) -> Response:
    """Choose a report, a site and a period; download it as PDF or CSV."""
    sites = sorted(clinics.sites_of(db=db, actor=actor), key=lambda site: site.code)
    today = clock.today(clinics.home_zone(db=db, actor=actor))
    return render(request, "inventory/reports.html", sites=sites, today=today,
                  month_ago=today - timedelta(days=30))


@router.get("/inventory/reports/{kind}")
def report_download(kind: str, site: str, format: str = "pdf",
                    start: IsoDate | None = None, end: IsoDate | None = None,
                    as_of: IsoDate | None = None,
                    actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
                    db: Session = DB) -> Response:
    """A report as a file, for a signed-in administrator (the API serves the same with a token)."""
    if format not in ("pdf", "csv"):
        raise invalid("format", f"{format!r}", "pdf, csv")
    if kind == "inventory":
        if as_of is None:
                raise invalid("as_of", "is required", "a date, YYYY-MM-DD")
        return report_router.inventory(site=site, as_of=as_of, format=format,  # type: ignore[arg-type]
                                       actor=actor, db=db)
    if kind not in report_router.PERIOD_REPORTS:
        raise NotFound("no such report")
    if start is None or end is None:
        raise invalid("start", "start and end are required", "dates, YYYY-MM-DD")
    return report_router.PERIOD_REPORTS[kind](site=site, start=start, end=end, format=format,  # type: ignore[arg-type]
                         actor=actor, db=db)
