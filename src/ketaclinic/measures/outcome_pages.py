"""The clinic outcomes page (per site or the whole network) and the de-identified export."""

import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from matplotlib.figure import Figure
from sqlalchemy.orm import Session

from ketaclinic.audit import service as audit
from ketaclinic.clinics import service as clinics
from ketaclinic.errors import invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission, allows
from ketaclinic.measures import outcomes, research_export
from ketaclinic.web.deps import DB, require
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, include_in_schema=False)


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid(field, f"{value!r} is not a date", "YYYY-MM-DD") from None


def chart_svg(rows: list[outcomes.OutcomeRow]) -> str:
    """Response and remission rates with 95 % intervals beside the published benchmarks."""
    if not rows:
        return ""
    figure = Figure(figsize=(8, 0.9 + 0.9 * len(rows)), layout="constrained")
    axes = figure.subplots()
    labels = []
    for index, row in enumerate(rows):
        labels.append(f"{row.route}, {row.indication}\n(n={row.courses})")
        for offset, rate, colour, name in ((-0.18, row.response, "#1f5fae", "response"),
                                           (0.18, row.remission, "#2e7d32", "remission")):
            if rate is None:  # no remission line for this instrument: no bar, not a 0 %
                continue
            low, high = rate.interval
            axes.barh(index + offset, rate.pct or 0, height=0.32, color=colour, alpha=0.8,
                      label=name if index == 0 else None)
            axes.errorbar(rate.pct or 0, index + offset, xerr=[[(rate.pct or 0) - low],
                                                                [high - (rate.pct or 0)]],
                          fmt="none", ecolor="#222", capsize=3)
        for bench in row.benchmarks:
            axes.plot(bench["response_pct"], index - 0.18, marker="D", color="#b3261e",
                      label="published response" if index == 0 and bench is row.benchmarks[0]
                      else None)
    axes.set_yticks(range(len(rows)), labels, fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of courses (bars: this clinic with 95 % interval; diamonds: published)")
    axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=3, fontsize=8, frameon=False)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.find("<svg"):].replace(
        "<svg ", '<svg id="outcomes-chart" role="img" aria-label="Outcome rates" ', 1)


@router.get("/outcomes", response_class=HTMLResponse)
def outcomes_page(request: Request, site: str = "", since: str = "", until: str = "",
                  actor: Actor = Depends(require(Permission.OUTCOMES_VIEW)),
                  db: Session = DB) -> Response:
    """Outcome rates per route and indication for a site or the network, with benchmarks."""
    sites = list(clinics.sites_of(db=db, actor=actor))
    chosen = [s for s in sites if s.code == site] if site else sites
    errors = []
    try:
        start, end = _day(since, "since"), _day(until, "until")
    except Exception as exc:
        errors, start, end = [str(getattr(exc, "detail", exc))], None, None
    if site and not chosen:
        errors.append(f"site: {site!r} is not one of yours (accepted: "
                      f"{', '.join(s.code for s in sites)})")
        chosen = sites
    tz = ZoneInfo(chosen[0].time_zone if len(chosen) == 1 else "UTC")
    rows = outcomes.compute(
        db=db, site_pks={s.pk for s in chosen},
        since=datetime.combine(start, time.min, tzinfo=tz) if start else None,
        until=datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz) if end else None)
    audit.record(db=db, actor=actor, action="read", record_type="Outcomes",
                 record_id=site or "network", detail=f"{since or 'start'} to {until or 'today'}")
    return render(request, "measures/outcomes.html", status_code=422 if errors else 200,
                  rows=rows, chart=chart_svg(rows), sites=sites, site=site, since=since,
                  until=until, errors=errors, tz=str(tz), columns=research_export.COLUMNS,
                  can_export=allows(actor.role, Permission.RESEARCH_EXPORT))


@router.get("/outcomes/research-export.csv")
def export_csv(site: str = "", actor: Actor = Depends(require(Permission.RESEARCH_EXPORT)),
               db: Session = DB) -> Response:
    """The de-identified research export of the user's sites (or one of them)."""
    sites = list(clinics.sites_of(db=db, actor=actor))
    chosen = [s for s in sites if s.code == site] if site else sites
    if site and not chosen:
        raise invalid("site", f"{site!r} is not one of yours", ", ".join(s.code for s in sites))
    text = research_export.to_csv(db=db, site_pks={s.pk for s in chosen})
    audit.record(db=db, actor=actor, action="export", record_type="ResearchExport",
                 record_id=site or "network", detail=f"{text.count(chr(10)) - 1} rows")
    return Response(text, media_type="text/csv", headers={
        "Content-Disposition": 'attachment; filename="ketaclinic-research-export.csv"'})
