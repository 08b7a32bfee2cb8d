"""Controlled-substance reports under /api/v1/inventory/reports, as JSON, CSV or PDF."""

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Site
from ketaclinic.clinics.service import site_by_code
from ketaclinic.errors import invalid
from ketaclinic.inventory import report_files, reports
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.knowledge import controlled_substances as cs_rules
from ketaclinic.web.deps import API_PREFIX, DB, require
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.wire_types import IsoDate, IsoDateTime

router = APIRouter(route_class=OneTripRoute, prefix=f"{API_PREFIX}/inventory/reports", tags=["inventory"])
# What `format` chooses: JSON, a spreadsheet (CSV) or a printable PDF.
REPORT_FORMATS: dict[int | str, dict[str, Any]] = {200: {
    "description": "The report, in the format asked for",
    "content": {"application/json": {}, "text/csv": {}, "application/pdf": {}}}}
Format = Literal["json", "csv", "pdf"]
INVENTORY_COLUMNS = ("cabinet", "container", "product", "ndc", "lot", "expires_on",
                     "quantity_mg", "devices", "container_state", "count_basis")
USAGE_COLUMNS = ("who", "sessions", "drawn_mg", "given_mg", "wasted_mg", "mg_per_session",
                 "waste_share", "flags")
FORM106_COLUMNS = ("discovered_on", "notice_due_by", "kind", "ndc", "product", "quantity_mg",
                   "detail", "status")


def local_range(site: Site, start: IsoDate, end: IsoDate) -> tuple[IsoDateTime, datetime]:
    """From the start of one local day to the end of another (end included), in the site's zone."""
    if end < start:
        raise invalid("end", "is before the start", f"{start.isoformat()} or later")
    zone = ZoneInfo(site.time_zone)
    return (datetime.combine(start, time(0), tzinfo=zone),
            datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone))


def end_of_day(site: Site, day: IsoDate) -> datetime:
    """The last moment of a local day at the site (an inventory 'at close of business')."""
    zone = ZoneInfo(site.time_zone)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone) - timedelta(
        microseconds=1)


def respond(fmt: Format, *, name: str, title: str, lines: Sequence[str], columns: Sequence[str],
            rows: Sequence[dict[str, Any]], site: Site, extra: dict[str, Any] | None = None,
            widths: Sequence[int] | None = None) -> Response:
    """A report as JSON, CSV or PDF (times in the site's zone in the files)."""
    zone = ZoneInfo(site.time_zone)
    if fmt == "csv":
        return Response(report_files.to_csv(columns, rows, zone), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "pdf":
        return Response(report_files.to_pdf(title, lines, columns, rows, zone, widths),
                        media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})
    return JSONResponse(jsonable_encoder({"title": title, "notes": list(lines),
                                          "rows": [{c: r.get(c) for c in columns} for r in rows],
                                          **(extra or {})},
                                         custom_encoder={Decimal: str}))  # exact, as elsewhere


@router.get("/dispensing", responses=REPORT_FORMATS)
def dispensing(site: str, start: IsoDate, end: IsoDate, format: Format = "json",
               actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
               db: Session = DB) -> Response:
    """Every receipt, draw, dose, waste, loss, transfer, adjustment, destruction and return."""
    where = site_by_code(db, site, actor)
    begin, finish = local_range(where, start, end)
    rows = reports.dispensing_log(db, {where.pk}, begin, finish)
    retention = cs_rules.record_keeping()
    return respond(format, name=f"dispensing-{where.code}-{start}-{end}",
                   title=f"Controlled-substance dispensing log: {where.name}",
                   lines=[f"{start} to {end} inclusive, times {where.time_zone}. "
                          f"DEA registration {where.dea_registration or '(not recorded)'}.",
                          f"Keep at least {retention.retention_years} years "
                          f"({retention.source})."],
                   columns=reports.LOG_COLUMNS, rows=rows, site=where,
                   widths=(16, 15, 10, 26, 12, 10, 9, 6, 18, 12, 12, 12, 24, 20))


@router.get("/inventory", responses=REPORT_FORMATS)
def inventory(site: str, as_of: IsoDate, format: Format = "json",
              actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
              db: Session = DB) -> Response:
    """The inventory at close of business on a day, reconstructed from the ledger."""
    where = site_by_code(db, site, actor)
    moment = end_of_day(where, as_of)
    rows = reports.inventory_report(db, where, moment)
    rule = cs_rules.inventory_rule()
    total = sum((r["quantity_mg"] for r in rows), Decimal(0))
    return respond(format, name=f"inventory-{where.code}-{as_of}",
                   title=f"Controlled-substance inventory: {where.name}",
                   lines=[f"As of close of business {as_of} ({where.time_zone}), reconstructed "
                          f"from the ledger. DEA registration "
                          f"{where.dea_registration or '(not recorded)'}. Total {total} mg in "
                          f"{len(rows)} containers.",
                          f"Every {rule.interval_years} years ({rule.source}); opened "
                          f"containers may be estimated up to {rule.exact_count_above_units} "
                          f"units ({rule.exact_count_source})."],
                   columns=INVENTORY_COLUMNS, rows=rows, site=where,
                   extra={"as_of": moment, "total_mg": total})


@router.get("/usage", responses=REPORT_FORMATS)
def usage(site: str, start: IsoDate, end: IsoDate, format: Format = "json",
          actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
          db: Session = DB) -> Response:
    """Drawn, given and wasted per prescriber, patient and staff member, with outliers flagged."""
    where = site_by_code(db, site, actor)
    begin, finish = local_range(where, start, end)
    groups = reports.usage(db, {where.pk}, begin, finish)
    rows = [{"group": group, "who": r.who, "sessions": r.sessions, "drawn_mg": r.drawn_mg,
             "given_mg": r.given_mg, "wasted_mg": r.wasted_mg,
             "mg_per_session": r.mg_per_session, "waste_share": f"{r.waste_share:.1%}",
             "flags": "; ".join(r.flags)} for group, listed in groups.items() for r in listed]
    rule = cs_rules.outlier_rule()
    return respond(format, name=f"usage-{where.code}-{start}-{end}",
                   title=f"Controlled-substance usage review: {where.name}",
                   lines=[f"{start} to {end} inclusive. Outliers: {rule.source}; "
                          f"at least {rule.min_peers} in a group."],
                   columns=("group", *USAGE_COLUMNS), rows=rows, site=where)


@router.get("/form-106", responses=REPORT_FORMATS)
def form106(site: str, start: IsoDate, end: IsoDate, format: Format = "json",
            actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
            db: Session = DB) -> Response:
    """A DEA Form 106 draft: losses and shortages discovered in the period, for the registrant."""
    where = site_by_code(db, site, actor)
    begin, finish = local_range(where, start, end)
    draft = reports.form106_draft(db, where, begin, finish)
    return respond(format, name=f"form-106-draft-{where.code}-{start}-{end}",
                   title="DEA Form 106 draft (theft or loss of controlled substances)",
                   lines=[f"Registrant: {draft['registrant']}, {draft['address']}. DEA "
                          f"registration {draft['dea_registration']}.",
                          f"Losses discovered {start} to {end}: {draft['total_mg']} mg. "
                          f"{draft['rule']}.",
                          "A draft for the registrant to check: file the form itself with the "
                          "DEA. Type of loss and circumstances are for the registrant to state."],
                   columns=FORM106_COLUMNS, rows=draft["items"], site=where,
                   extra={"total_mg": draft["total_mg"],
                          "dea_registration": draft["dea_registration"]})


# The reports over a period, by name (pages and the command line use the same ones).
PERIOD_REPORTS = {"dispensing": dispensing, "usage": usage, "form-106": form106}
