"""`ketaclinic billing ...`: a site's prices, packages and sliding-scale bands."""

from datetime import date
from typing import Annotated

import typer

from ketaclinic.cli_support import console, fail

billing_app = typer.Typer(help="Price lists, packages and sliding-scale bands.",
                          no_args_is_help=True)


def _day(value: str) -> date:

    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--from: {value!r} is not a date (accepted: YYYY-MM-DD)")


def _run(action: str, **values: object) -> None:
    from sqlalchemy import select

    from ketaclinic.billing import prices
    from ketaclinic.clinics.models import Site
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.kernel.actor import cli_actor

    code = str(values.pop("site"))
    try:
        with unit_of_work() as db:
            site = db.execute(select(Site).where(Site.code == code.upper())).scalar_one_or_none()
            if site is None:
                fail(f"--site: no site {code!r}")
            getattr(prices, action)(db=db, site=site, actor=cli_actor(), **values)
    except DomainError as exc:
        fail(exc.detail)


@billing_app.command("price")
def price(site: Annotated[str, typer.Option(help="site code")],
          item: Annotated[str, typer.Option(help="a billing code (96365, G2083, J0013, ...) or "
                                                 "ketamine-mg")],
          cents: Annotated[int, typer.Option(help="price in cents, e.g. 45000 for 450.00")],
          from_: Annotated[str, typer.Option("--from", help="in force from, YYYY-MM-DD")]) -> None:
    """Set a price from a date on (invoices already issued keep their prices)."""

    _run("set_price", site=site, item=item, amount_cents=cents, effective_from=_day(from_))
    console.print(f"{site.upper()} {item}: {cents} cents from {from_}")


@billing_app.command("package")
def package(site: Annotated[str, typer.Option(help="site code")],
            name: Annotated[str, typer.Option(help="e.g. 'Six-infusion induction'")],
            route: Annotated[str, typer.Option(help="iv, esketamine or im")],
            sessions: Annotated[int, typer.Option(help="sessions in the package")],
            cents: Annotated[int, typer.Option(help="the package price in cents")],
            from_: Annotated[str, typer.Option("--from", help="YYYY-MM-DD")]) -> None:
    """Add a price for a whole series."""

    _run("add_package", site=site, name=name, route=route, sessions=sessions,
         amount_cents=cents, effective_from=_day(from_))
    console.print(f"{site.upper()} package {name}: {sessions} x {route} for {cents} cents")


@billing_app.command("band")
def band(site: Annotated[str, typer.Option(help="site code")],
         name: Annotated[str, typer.Option(help="e.g. 'Household income up to 40,000'")],
         income_cents: Annotated[int, typer.Option(help="yearly household income up to, cents")],
         discount: Annotated[int, typer.Option(help="discount in percent, 1 to 100")],
         from_: Annotated[str, typer.Option("--from", help="YYYY-MM-DD")]) -> None:
    """Add a sliding-scale band."""

    _run("add_band", site=site, name=name, income_up_to_cents=income_cents,
         discount_pct=discount, effective_from=_day(from_))
    console.print(f"{site.upper()} band {name}: {discount} % off")
