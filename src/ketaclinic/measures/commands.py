"""`ketaclinic measures ...`: questionnaire links due, alert escalation, crisis contacts, export."""

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer

from ketaclinic.cli_support import console, fail, progress_bar

measures_app = typer.Typer(help="Questionnaires, alerts and outcomes.", no_args_is_help=True)


@measures_app.command("send-due")
def send_due(day: Annotated[str, typer.Option(help="session day YYYY-MM-DD (default: tomorrow)")]
             = "") -> None:
    """Email a questionnaire link for every course with a session planned on the day (run daily)."""
    from ketaclinic import clock
    from ketaclinic.clinics import service as clinics
    from ketaclinic.db import unit_of_work
    from ketaclinic.kernel.actor import cli_actor
    from ketaclinic.measures import links

    try:
        chosen = date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"--day: {day!r} is not a date (accepted: YYYY-MM-DD)")
    with unit_of_work() as db:
        # Tomorrow as the clinic reads it, not as UTC does (late evening is already tomorrow in UTC).
        target = chosen or clock.today(clinics.home_zone(db=db, actor=cli_actor())) + timedelta(days=1)
        created = links.send_due(db=db, day=target, actor=cli_actor())
        sent = sum(1 for r in created if r.sent_at)
    console.print(f"{len(created)} questionnaire links for sessions on {target}: {sent} emailed, "
                      f"{len(created) - sent} not (see each patient's progress page)")


@measures_app.command("escalate")
def escalate() -> None:
    """Escalate every alert left open past its clinic-set time (run every few minutes)."""
    from ketaclinic.db import unit_of_work
    from ketaclinic.kernel.actor import cli_actor
    from ketaclinic.measures import alerts

    with unit_of_work() as db:
        escalated = alerts.escalate_overdue(db=db, actor=cli_actor())
        console.print(f"{len(escalated)} alerts escalated")


@measures_app.command("crisis-contacts")
def crisis_contacts(
    contact: Annotated[list[str], typer.Option(help="a contact line, e.g. 'Crisis line: call 988'; "
                                                    "repeat for several")],
) -> None:
    """Set the crisis contacts patients see with a suicidality alert (the clinic's own)."""
    from sqlalchemy import select

    from ketaclinic.audit import service as audit
    from ketaclinic.clinics.models import Network
    from ketaclinic.db import unit_of_work
    from ketaclinic.kernel.actor import cli_actor

    lines = [c.strip() for c in contact if c.strip()]
    if not lines or any(len(c) > 200 for c in lines):
        fail("--contact: give at least one line of at most 200 characters")
    with unit_of_work() as db:
        network = db.execute(select(Network)).scalars().first()
        if network is None:
            fail("no clinic network yet: create a site first (ketaclinic sites create)")
        network.crisis_contacts = lines
        audit.record(db=db, actor=cli_actor(), action="update", record_type="Network",
                     record_id=network.id, detail="crisis contacts: " + " | ".join(lines))
    console.print("crisis contacts set:\n" + "\n".join(f"  {c}" for c in lines))


@measures_app.command("export")
def export(out: Annotated[Path, typer.Option(help="CSV file to write")],
           site: Annotated[str, typer.Option(help="one site code (default: every site)")] = "") -> None:
    """Write the de-identified research export (see the column list on the outcomes page)."""
    import csv

    from sqlalchemy import func, select

    from ketaclinic.audit import service as audit
    from ketaclinic.clinics.models import Site
    from ketaclinic.db import unit_of_work
    from ketaclinic.kernel.actor import cli_actor
    from ketaclinic.measures import research_export
    from ketaclinic.measures.models import Measure
    from ketaclinic.spreadsheet import safe_cell

    with unit_of_work() as db:
        sites = db.execute(select(Site)).scalars().all()
        chosen = {s.pk for s in sites if not site or s.code == site}
        if not chosen:
            fail(f"--site: {site!r} is not a site (accepted: {', '.join(s.code for s in sites)})")
        total = db.execute(select(func.count()).select_from(Measure).where(
            Measure.site_pk.in_(chosen))).scalar_one()
        try:
            handle = out.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            fail(f"--out: cannot write {out}: {exc.strerror}")
        written = 0
        with handle, progress_bar() as progress:
            task = progress.add_task("exporting measures", total=total)
            writer = csv.writer(handle, lineterminator="\n")
            for row in research_export.rows(db=db, site_pks=chosen):
                writer.writerow([safe_cell(cell) for cell in row])
                written += 1
                progress.update(task, completed=written - 1)
        audit.record(db=db, actor=cli_actor(), action="export", record_type="ResearchExport",
                     record_id=site or "network", detail=f"{written - 1} rows to {out.name}")
    console.print(f"wrote {written - 1} de-identified rows to {out}")
