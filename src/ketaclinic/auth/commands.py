"""`ketaclinic clients ...`: register, list, disable and enable the systems that call in."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ketaclinic.cli_support import console, fail, print_table

clients_app = typer.Typer(help="Registered clients: EHRs calling CDS Hooks, SMART apps, backend "
                          "services.", no_args_is_help=True)


@clients_app.command("add")
def clients_add(
    name: Annotated[str, typer.Option(help="what the clinic calls it, shown in the audit trail")],
    kind: Annotated[str, typer.Option(help="cds-client, smart-app or backend-service")],
    site: Annotated[str, typer.Option(help="code of the site it acts for")],
    client_id: Annotated[str, typer.Option(
        help="a CDS client's issuer URL (its JWTs' iss); made up for apps if omitted")] = "",
    jwks_file: Annotated[Path | None, typer.Option(help="file holding its public JWK Set")] = None,
    jwks_url: Annotated[str, typer.Option(help="https URL of its JWK Set instead")] = "",
    redirect_uri: Annotated[list[str] | None, typer.Option(
        help="an app's redirect URI (repeat for several)")] = None,
    scopes: Annotated[str, typer.Option(help="allowed scopes, space-separated")] = "",
) -> None:
    """Register a client."""
    from ketaclinic.auth import clients
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.kernel.actor import cli_actor

    jwks = ""
    if jwks_file is not None:
        try:
            jwks = jwks_file.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            fail(f"--jwks-file: cannot read {jwks_file} ({exc.__class__.__name__}; accepted: a "
                 "readable JSON file)")
    try:
        with unit_of_work() as db:
            client = clients.register(db=db, name=name, kind=kind, site_code=site,
                                      client_id=client_id, jwks=jwks, jwks_url=jwks_url,
                                      redirect_uris=redirect_uri or [], scopes=scopes,
                                      actor=cli_actor())
            console.print(f"registered {client.kind} {client.name!r}: client_id "
                          f"{client.client_id} ({client.id})")
    except DomainError as exc:
        fail(exc.detail)


@clients_app.command("list")
def clients_list(as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False
                 ) -> None:
    """The registered clients."""
    from ketaclinic.auth import clients
    from ketaclinic.db import unit_of_work
    from ketaclinic.kernel.actor import cli_actor

    with unit_of_work() as db:
        found = [clients.describe(c) for c in clients.clients_of(db=db, actor=cli_actor())]
    if as_json:
        for row in found:
            console.print_json(json.dumps(row))
        return
    table = Table("name", "kind", "site", "client_id", "scopes", "status")
    for row in found:
        table.add_row(row["name"], row["kind"], row["site"], row["client_id"],
                      " ".join(row["scopes"]), "active" if row["active"] else "disabled")
    print_table(table)


def _set_active(client: str, active: bool) -> None:
    from ketaclinic.auth import clients
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import DomainError
    from ketaclinic.kernel.actor import cli_actor

    try:
        with unit_of_work() as db:
            found = clients.set_active(db=db, client_ref=client, active=active, actor=cli_actor())
            console.print(f"{found.name!r} is {'active' if found.active else 'disabled'}")
    except DomainError as exc:
        fail(exc.detail)


@clients_app.command("disable")
def clients_disable(client: Annotated[str, typer.Argument(help="name, client_id or id")]) -> None:
    """Disable a client: its JWTs and tokens are refused from now on."""
    _set_active(client, False)


@clients_app.command("enable")
def clients_enable(client: Annotated[str, typer.Argument(help="name, client_id or id")]) -> None:
    """Enable a disabled client again."""
    _set_active(client, True)
