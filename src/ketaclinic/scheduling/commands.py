"""`ketaclinic schedule ...`: hours, closed days, shifts, days away, chair routes."""

from datetime import date, time
from typing import Annotated

import typer

from ketaclinic.cli_support import console, fail

schedule_app = typer.Typer(help="Opening hours, closed days, staff shifts.", no_args_is_help=True)


def _time(option: str, value: str) -> time:

    try:
        return time.fromisoformat(value)
    except ValueError:
        fail(f"--{option}: {value!r} is not a time (accepted: HH:MM)")


def _date(option: str, value: str) -> date:

    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--{option}: {value!r} is not a date (accepted: YYYY-MM-DD)")


def _site(db: object, code: str) -> object:
    from sqlalchemy import select

    from ketaclinic.clinics.models import Site

    site = db.execute(select(Site).where(Site.code == code.strip().upper())  # type: ignore[attr-defined]
                      ).scalar_one_or_none()
    if site is None:
        fail(f"--site: no site {code!r}")
    return site


@schedule_app.command("hours")
def hours(site: Annotated[str, typer.Option(help="site code")],
          day: Annotated[str, typer.Option(help="weekday: mon, tue, ...")],
          opens: Annotated[str, typer.Option(help="HH:MM (leave out with --closed)")] = "",
          closes: Annotated[str, typer.Option(help="HH:MM")] = "",
          closed: Annotated[bool, typer.Option("--closed", help="closed that weekday")] = False
          ) -> None:
    """Set a site's opening hours for a weekday (local time)."""
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.kernel.actor import cli_actor
    from ketaclinic.scheduling import resources

    if not closed and (not opens or not closes):
        fail("--opens and --closes are both needed (or --closed)")
    try:
        with unit_of_work() as db:
            resources.set_hours(db=db, site=_site(db, site), day=day,  # type: ignore[arg-type]
                                opens=None if closed else _time("opens", opens),
                                closes=None if closed else _time("closes", closes),
                                actor=cli_actor())
    except DomainError as exc:
        fail(exc.detail)
    console.print(f"{site.upper()} {day}: " + ("closed" if closed else f"{opens}-{closes}"))


@schedule_app.command("closure")
def closure(site: Annotated[str, typer.Option(help="site code")],
            day: Annotated[str, typer.Option(help="YYYY-MM-DD")],
            reason: Annotated[str, typer.Option(help="e.g. public holiday")] = "") -> None:
    """Close a site on a day."""
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.kernel.actor import cli_actor
    from ketaclinic.scheduling import resources

    try:
        with unit_of_work() as db:
            resources.add_closure(db=db, site=_site(db, site), day=_date("day", day),  # type: ignore[arg-type]
                                  reason=reason, actor=cli_actor())
    except DomainError as exc:
        fail(exc.detail)
    console.print(f"{site.upper()} closed on {day}")


@schedule_app.command("shift")
def shift(site: Annotated[str, typer.Option(help="site code")],
          user: Annotated[str, typer.Option(help="a nurse's or prescriber's username")],
          day: Annotated[str, typer.Option(help="weekday: mon, tue, ...")],
          starts: Annotated[str, typer.Option(help="HH:MM")],
          ends: Annotated[str, typer.Option(help="HH:MM")]) -> None:
    """Add a regular weekly shift."""
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.kernel.actor import cli_actor
    from ketaclinic.scheduling import resources

    try:
        with unit_of_work() as db:
            resources.add_shift(db=db, site=_site(db, site), username=user, day=day,  # type: ignore[arg-type]
                                starts=_time("starts", starts), ends=_time("ends", ends),
                                actor=cli_actor())
    except DomainError as exc:
        fail(exc.detail)
    console.print(f"{user} works at {site.upper()} on {day} {starts}-{ends}")


@schedule_app.command("absence")
def absence(user: Annotated[str, typer.Option(help="username")],
            day: Annotated[str, typer.Option(help="YYYY-MM-DD")],
            reason: Annotated[str, typer.Option(help="e.g. leave")] = "") -> None:
    """Record a day a staff member is away."""
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.kernel.actor import cli_actor
    from ketaclinic.scheduling import resources

    try:
        with unit_of_work() as db:
            resources.add_absence(db=db, username=user, day=_date("day", day), reason=reason,
                                  actor=cli_actor())
    except DomainError as exc:
        fail(exc.detail)
    console.print(f"{user} away on {day}")


@schedule_app.command("chair-routes")
def chair_routes(site: Annotated[str, typer.Option(help="site code")],
                 chair: Annotated[str, typer.Option(help="chair name")],
                 routes: Annotated[str, typer.Option(help="e.g. iv,esketamine")]) -> None:
    """Which treatment routes a chair can serve (an IV chair has an infusion pump)."""
    from sqlalchemy import select

    from ketaclinic.clinics.models import Chair
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.kernel.actor import cli_actor
    from ketaclinic.scheduling import resources

    try:
        with unit_of_work() as db:
            found = _site(db, site)
            row = db.execute(select(Chair).where(Chair.site_pk == found.pk,  # type: ignore[attr-defined]
                                                 Chair.name == chair)).scalar_one_or_none()
            if row is None:
                fail(f"--chair: {site.upper()} has no chair {chair!r}")
            resources.set_chair_routes(db=db, chair=row, actor=cli_actor(),
                                       routes=[r.strip() for r in routes.split(",") if r.strip()])
    except DomainError as exc:
        fail(exc.detail)
    console.print(f"{site.upper()} {chair}: {routes}")
