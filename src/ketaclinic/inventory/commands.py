"""`ketaclinic inventory ...`: products, cabinets, a site's DEA registration, and report files."""

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ketaclinic.cli_support import console, fail

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ketaclinic.kernel.actor import Actor

inventory_app = typer.Typer(help="Controlled-substance stock and reports.", no_args_is_help=True)
DEA_NUMBER = re.compile(r"^[A-Z]{2}\d{7}$")


def dea_number_problem(number: str) -> str | None:
    """Why a DEA registration number is malformed (None when it is well formed).

    Two letters and seven digits; the last digit checks the others: (d1 + d3 + d5) plus twice
    (d2 + d4 + d6), last digit.
    """
    if not DEA_NUMBER.match(number):
        return "is not two letters and seven digits"
    d = [int(c) for c in number[2:]]
    if (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 != d[6]:
        return "has a wrong check digit"
    return None


def _operator(db: "Session") -> "Actor":
    """The server operator, reaching every site."""
    from sqlalchemy import select

    from ketaclinic.clinics.models import Site
    from ketaclinic.kernel.actor import Actor, cli_actor

    pks = frozenset(db.execute(select(Site.pk)).scalars())
    who = cli_actor()
    return Actor(username=who.username, role=who.role, site_pks=pks, client=who.client)


@inventory_app.command("product-add")
def product_add(
    name: Annotated[str, typer.Option(help="as on the label, e.g. 'Ketamine HCl 50 mg/mL, 10 mL'")],
    drug: Annotated[str, typer.Option(help="ketamine or esketamine")],
    ndc: Annotated[str, typer.Option(help="NDC as printed, e.g. 50458-028-00")],
    mg_per_container: Annotated[str, typer.Option(help="mg in one vial or device")],
    concentration: Annotated[str, typer.Option(help="mg/mL (vials)")] = "",
    volume: Annotated[str, typer.Option(help="mL (vials)")] = "",
    devices: Annotated[int, typer.Option(help="devices per container (esketamine: 1)")] = 0,
) -> None:
    """Add a product the clinic stocks."""
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.inventory import catalogue, schemas
    from ketaclinic.web.forms import validate

    values: dict[str, object] = {"name": name, "drug": drug, "ndc": ndc,
                                 "mg_per_container": mg_per_container,
                                 "devices_per_container": devices}
    if concentration:
        values["concentration_mg_per_ml"] = concentration
    if volume:
        values["volume_ml"] = volume
    try:
        with unit_of_work() as db:
            product = catalogue.add_product(db=db, data=validate(schemas.ProductIn, values),
                                            actor=_operator(db))
            console.print(f"added {product.name} (NDC {product.ndc}, "
                              f"{product.mg_per_container:g} mg per container)")
    except DomainError as exc:
        fail(exc.detail)


@inventory_app.command("cabinet-add")
def cabinet_add(site: Annotated[str, typer.Option(help="site code")],
                name: Annotated[str, typer.Option(help="cabinet name, e.g. 'Med room safe'")]) -> None:
    """Add a locked cabinet at a site (from then on the site accounts for every dose)."""
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.inventory import catalogue, schemas
    from ketaclinic.web.forms import validate

    try:
        with unit_of_work() as db:
            cabinet = catalogue.add_cabinet(
                db=db, data=validate(schemas.CabinetIn, {"site": site, "name": name}),
                actor=_operator(db))
            console.print(f"added cabinet {cabinet.name} at {site.upper()}")
    except DomainError as exc:
        fail(exc.detail)


@inventory_app.command("dea-registration")
def dea_registration(site: Annotated[str, typer.Option(help="site code")],
                     number: Annotated[str, typer.Option(help="e.g. AB1234563")]) -> None:
    """Record a site's DEA registration number (printed on its reports)."""
    from sqlalchemy import select

    from ketaclinic.audit import service as audit
    from ketaclinic.clinics.models import Site
    from ketaclinic.db import unit_of_work

    number = number.strip().upper()
    problem = dea_number_problem(number)
    if problem:
        fail(f"--number: {number!r} {problem} (accepted: a DEA number such as AB1234563)")
    with unit_of_work() as db:
        found = db.execute(select(Site).where(Site.code == site.strip().upper())).scalar_one_or_none()
        if found is None:
            fail(f"--site: no site {site!r}")
        found.dea_registration = number
        audit.record(db=db, actor=_operator(db), action="update",
                     record_type="Site", record_id=found.id, detail=f"DEA registration {number}")
    console.print(f"{found.code}: DEA registration {number}")


@inventory_app.command("verify")
def verify(anchor: Annotated[Path | None, typer.Option("--anchor", help=(
        "an anchor file (`audit anchor --to`): its last anchor must still be in the ledger's "
        "chain (default: KETACLINIC_AUDIT_ANCHOR_FILE when set)"))] = None) -> None:
    """Check the controlled-substance ledger: every row as sealed, none removed, added, moved or
    cut from the end since the anchor, and every transaction adding up to zero; exit 1 if not."""
    from ketaclinic.audit import commands, sealing
    from ketaclinic.db import session_factory
    from ketaclinic.inventory import integrity

    found = commands.anchor_of(anchor, integrity.CHAIN)
    report = commands.verify_chain(integrity.LEDGER, lambda db, at, progress: sealing.verify(
        db, integrity.LEDGER, anchor=at, progress=progress), found)
    with session_factory()() as db:
        unbalanced = integrity.unbalanced_transactions(db)
    if unbalanced:
        fail(f"ledger transaction {unbalanced[0]} does not add up to zero (a side removed or "
             f"changed; {len(unbalanced)} such)", code=1)
    commands.print_intact(report, found)


@inventory_app.command("report")
def report(
    kind: Annotated[str, typer.Argument(help="inventory, dispensing, usage or form-106")],
    site: Annotated[str, typer.Option(help="site code")],
    out: Annotated[Path, typer.Option(help="file to write")],
    as_of: Annotated[str, typer.Option(help="inventory: the day, YYYY-MM-DD")] = "",
    start: Annotated[str, typer.Option(help="first day, YYYY-MM-DD")] = "",
    end: Annotated[str, typer.Option(help="last day (included), YYYY-MM-DD")] = "",
    format: Annotated[str, typer.Option(help="pdf or csv")] = "pdf",
) -> None:
    """Write a controlled-substance report (the same as the reports page and API)."""
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.inventory import report_router

    if format not in ("pdf", "csv"):
        fail(f"--format: {format!r} (accepted: pdf, csv)")

    def day(option: str, value: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            fail(f"--{option}: {value!r} is not a date (accepted: YYYY-MM-DD)")

    try:
        with unit_of_work() as db:
            actor = _operator(db)
            if kind == "inventory":
                response = report_router.inventory(site=site, as_of=day("as-of", as_of),
                                                   format=format, actor=actor, db=db)  # type: ignore[arg-type]
            elif kind in ("dispensing", "usage", "form-106"):
                handler = report_router.PERIOD_REPORTS[kind]
                response = handler(site=site, start=day("start", start), end=day("end", end),
                                   format=format, actor=actor, db=db)  # type: ignore[arg-type]
            else:
                fail(f"{kind!r} is not a report (accepted: inventory, dispensing, usage, "
                         "form-106)")
    except DomainError as exc:
        fail(exc.detail)
    out.write_bytes(bytes(response.body))
    console.print(f"wrote {out} ({len(response.body)} bytes)")
