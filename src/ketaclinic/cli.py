"""The `ketaclinic` command: database, demo data, server, users and the audit trail."""

import contextlib
import getpass
import json
import os
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table
from typer.exceptions import TyperException

from ketaclinic import clock, collector, wal_checkpoints
from ketaclinic import worker as background
from ketaclinic.auth.commands import clients_app
from ketaclinic.billing.commands import billing_app
from ketaclinic.cli_support import (
    console,
    err_console,
    fail,
    print_table,
    progress_bar,
    warn_if_clock_set,
)
from ketaclinic.errors import DomainError
from ketaclinic.fhir.commands import export_fhir, import_fhir
from ketaclinic.inventory.commands import inventory_app
from ketaclinic.measures.commands import measures_app
from ketaclinic.scheduling.commands import schedule_app
from ketaclinic.settings import Settings, SettingsError, describe_invalid, get_settings

app = typer.Typer(help="ketaclinic: run a ketamine therapy clinic.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
sites_app = typer.Typer(help="Clinic sites.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
keys_app = typer.Typer(help="Keys for secrets kept encrypted at rest.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(sites_app, name="sites")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(measures_app, name="measures")
app.add_typer(inventory_app, name="inventory")
app.add_typer(schedule_app, name="schedule")
app.add_typer(billing_app, name="billing")
app.add_typer(clients_app, name="clients")
app.command("import-fhir")(import_fhir)
app.command("export-fhir")(export_fhir)
@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply database migrations (creates the database if it does not exist)."""
    from ketaclinic import migrate

    migrate.upgrade(revision=revision)
    console.print(f"database at {revision}: {_safe_url()}")


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url).render_as_string(hide_password=True)


@app.command()
def demo(
    patients: Annotated[int, typer.Option(min=1, max=5000, help="how many patients")] = 50,
    seed: Annotated[int, typer.Option(help="generator seed (same seed, same patients)")] = 0,
) -> None:
    """Seed the demo clinic network into an empty database (does nothing if already seeded)."""
    from ketaclinic.db import unit_of_work
    from ketaclinic.demo import seed as demo_seed

    with unit_of_work() as db:
        if demo_seed.is_seeded(db):
            console.print("the database already holds a clinic network; demo data not added")
            return
        with progress_bar() as progress:
            task = progress.add_task("creating demo patients", total=patients)
            counts = demo_seed.seed(db, patients_count=patients,
                                    seed_value=seed or demo_seed.DEMO_SEED,
                                    on_patient=lambda n: progress.update(task, completed=n))
    from ketaclinic import sealer

    sealer.seal_once()
    console.print(f"demo clinic ready: {counts['sites']} sites, {counts['users']} users, "
                  f"{counts['patients']} patients; password for every demo user: "
                  f"{demo_seed.DEMO_PASSWORD}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    demo_mode: Annotated[bool, typer.Option("--demo", help="demo mode: banner, no 2FA")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help=(
        "server processes (PostgreSQL only; SQLite is served by one process)"))] = 1,
) -> None:
    """Serve the web app and API."""
    from ketaclinic.web import serving

    if demo_mode:
        os.environ["KETACLINIC_DEMO"] = "1"
        get_settings.cache_clear()
    settings = get_settings()
    try:
        settings.check_safe_to_serve()
    except SettingsError as exc:
        fail(str(exc))
    if workers > 1 and settings.database_url.startswith("sqlite"):
        fail("--workers: SQLite is served by one process (it has one writer); for several "
             "workers set KETACLINIC_DATABASE_URL to a PostgreSQL database")
    warn_if_clock_set()
    serving.serve(host=host, port=port, workers=workers, access_log=settings.access_log)


@sites_app.command("create")
def sites_create(
    code: Annotated[str, typer.Option(help="short code, e.g. BOS (used in MRNs)")],
    name: Annotated[str, typer.Option(help="site name")],
    time_zone: Annotated[str, typer.Option(help="IANA time zone, e.g. America/New_York")],
    address: Annotated[str, typer.Option(help="street address")] = "",
    chairs: Annotated[int, typer.Option(help="number of treatment chairs")] = 0,
    network: Annotated[str, typer.Option(help="network name (first site only)")] = "",
) -> None:
    """Add a clinic site with its chairs (the first one also creates the network)."""
    from ketaclinic.clinics import service as clinics
    from ketaclinic.db import unit_of_work
    from ketaclinic.kernel.actor import cli_actor

    try:
        with unit_of_work() as db:
            site = clinics.create_site(db=db, code=code, name=name, address=address,
                                       time_zone=time_zone, chairs=chairs, network_name=network,
                                       actor=cli_actor())
            console.print(f"created site {site.code} {site.name} ({site.time_zone}, "
                          f"{len(site.chairs)} chairs)")
    except DomainError as exc:
        fail(exc.detail)


@sites_app.command("chair-monitor")
def sites_chair_monitor(
    site: Annotated[str, typer.Option(help="site code")],
    chair: Annotated[str, typer.Option(help="chair name")],
    device: Annotated[str, typer.Option(help="monitor device id as sent in OBX-18 ('' to clear)")],
) -> None:
    """Map a bedside monitor to a chair so its readings reach the chair's session."""
    from ketaclinic.clinics import service as clinics
    from ketaclinic.db import unit_of_work
    from ketaclinic.kernel.actor import cli_actor

    try:
        with unit_of_work() as db:
            found = clinics.set_chair_monitor(db=db, site_code=site, chair_name=chair,
                                              device_id=device, actor=cli_actor())
            console.print(f"{site} {found.name}: monitor {found.monitor_device_id or '(none)'}")
    except DomainError as exc:
        fail(exc.detail)


@sites_app.command("list")
def sites_list() -> None:
    """List the sites and their chairs."""
    from ketaclinic.clinics import service as clinics
    from ketaclinic.db import session_factory

    table = Table(title="Sites")
    for column in ("code", "name", "time zone", "chairs", "address"):
        table.add_column(column)
    with session_factory()() as db:
        for site in clinics.all_sites(db=db):
            table.add_row(site.code, site.name, site.time_zone, str(len(site.chairs)), site.address)
    print_table(table)


@app.command()
def mllp(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 2575,
) -> None:
    """Listen for HL7 v2 ORU^R01 vital signs from bedside monitors (MLLP); ACK after commit."""
    import asyncio
    import logging

    from ketaclinic.db import get_engine
    from ketaclinic.integrations.mllp_listener import serve as serve_mllp

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    err_console.print(f"listening for MLLP on {host}:{port}; database {_safe_url()}")
    err_console.print("gateways admitted from: " + ", ".join(
        str(network) for network in get_settings().mllp_peer_networks) +
        " (KETACLINIC_MLLP_ALLOWED_PEERS)")
    warn_if_clock_set()
    # the listener's group commits leave SQLite's log to a thread, as a server's do
    wal_checkpoints.start_in_background(get_engine(), get_settings().sqlite_checkpoint_every_s)
    collector.settle_after_start()
    try:
        asyncio.run(serve_mllp(host, port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="login name")],
    name: Annotated[str, typer.Option(help="full name")],
    role: Annotated[str, typer.Option(help="admin, prescriber, nurse, front_desk or patient")],
    site: Annotated[list[str] | None, typer.Option(help="site code (repeat for several)")] = None,
    patient: Annotated[str | None, typer.Option(help="patient id, for a patient user")] = None,
    password: Annotated[str | None, typer.Option(
        envvar="KETACLINIC_NEW_USER_PASSWORD", help="initial password (prompted if omitted)")] = None,
) -> None:
    """Create a user."""
    from ketaclinic.auth import service as auth
    from ketaclinic.db import unit_of_work
    from ketaclinic.kernel.actor import cli_actor

    secret = password or getpass.getpass("Initial password: ")
    try:
        with unit_of_work() as db:
            user = auth.create_user(db=db, username=username, display_name=name, role=role,
                                    password=secret, site_codes=site or [], patient_id=patient,
                                    actor=cli_actor())
            console.print(f"created {user.role} {user.username} ({user.id})")
    except DomainError as exc:
        fail(exc.detail)


INDICATION_HELP = "depression, ptsd, pain or suicidal (by route)"


class Route(StrEnum):
    """Routes the clinic gives ketamine by."""

    iv = "iv"
    esketamine = "esketamine"
    im = "im"
    oral = "oral"


class OutputFormat(StrEnum):
    """How a command prints its answer."""

    text = "text"
    json = "json"


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@app.command("backup")
def backup_command(
    file: Annotated[Path, typer.Argument(help="the backup file to write (must not exist)")],
) -> None:
    """Back up the database to FILE (SQLite: online copy; PostgreSQL: pg_dump custom format),
    then check the copy: integrity, the audit chain, every table's row count."""
    from ketaclinic import backup

    try:
        found = backup.backup(get_settings().database_url, file)
    except backup.BackupFailed as exc:
        fail(f"backup: {exc}")
    console.print(f"backup written to {file} and checked: {len(found.tables)} tables, "
                  f"{sum(found.tables.values())} rows, audit chain intact ({found.audit_rows} "
                  f"rows, head {found.audit_head})")


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="a file written by `ketaclinic backup`")],
) -> None:
    """Restore FILE into the configured database, which must be new and empty, then check it."""
    from ketaclinic import backup

    try:
        found = backup.restore(get_settings().database_url, file)
    except backup.BackupFailed as exc:
        fail(f"restore: {exc}")
    console.print(f"restored {file}: {len(found.tables)} tables, {sum(found.tables.values())} "
                  f"rows, audit chain intact ({found.audit_rows} rows, head {found.audit_head})")


@keys_app.command("new")
def keys_new() -> None:
    """Print a new random key for KETACLINIC_DATA_KEYS (put it first to start using it)."""
    from cryptography.fernet import Fernet

    console.print(Fernet.generate_key().decode())


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored two-factor seed with the first key of KETACLINIC_DATA_KEYS; the
    older keys can then be removed."""
    from sqlalchemy import select
    from sqlalchemy.orm.attributes import flag_modified

    from ketaclinic import model_registry  # noqa: F401 (every table, for the user's links)
    from ketaclinic.auth.models import User
    from ketaclinic.db import unit_of_work
    from ketaclinic.encryption import SecretUnreadable

    try:
        with unit_of_work() as db:
            users = db.execute(select(User).where(User.totp_secret.is_not(None))).scalars().all()
            for user in users:
                flag_modified(user, "totp_secret")  # written again: encrypted with the first key
    except SecretUnreadable as exc:
        fail(f"KETACLINIC_DATA_KEYS: {exc} (accepted: the new key first, then every old one)")
    console.print(f"re-encrypted {len(users)} two-factor seeds with the first key")


@app.command()
def screen(
    file: Annotated[Path, typer.Argument(help="FHIR R4 Bundle (JSON) holding one Patient")],
    route: Annotated[Route, typer.Option(help="route to screen for")],
    on: Annotated[str | None, typer.Option(help="screen as of this day (YYYY-MM-DD); default today")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json")] = OutputFormat.text,
    time_zone: Annotated[str, typer.Option(
        help="the clinic's IANA time zone: which day a reading falls on")] = "UTC",
) -> None:
    """Screen a patient's FHIR record for contraindications, cautions and interactions."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from ketaclinic.fhir.bundle import BundleError, load_bundle
    from ketaclinic.fhir.record import record_from_bundle
    from ketaclinic.knowledge.screening import CannotScreen
    from ketaclinic.knowledge.screening import screen as run_screening

    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--time-zone: {time_zone!r} is not a time zone (accepted: an IANA name such as "
             "America/New_York)")
    day = _parse_day("--on", on) if on else clock.today(time_zone)
    try:
        record = record_from_bundle(load_bundle(file.read_bytes()), time_zone)
        result = run_screening(record, route=route.value, on=day, time_zone=time_zone)
    except OSError as exc:
        fail(f"{file}: cannot read ({exc.strerror})")
    except (BundleError, CannotScreen) as exc:
        fail(f"{file}: {exc}")
    if output is OutputFormat.json:
        _print_json(result.as_dict())
        return
    console.print(f"[bold]{result.decision}[/bold] for {result.route} on {result.on} "
                  f"(rule set {result.ruleset_version})")
    for finding in result.findings:
        console.print(f"- {finding.severity}: {finding.message}", markup=False)
        console.print(f"    rule {finding.rule}; source: {finding.source}", markup=False)
        for item in finding.evidence:
            console.print(f"    evidence: {item}", markup=False)


def _parse_day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date (accepted: YYYY-MM-DD)")


@app.command()
def dose(
    route: Annotated[Route, typer.Option(help="route")],
    weight_kg: Annotated[float | None, typer.Option(help="body weight in kg (weight-based routes)")] = None,
    indication: Annotated[str, typer.Option(help=INDICATION_HELP)] = "depression",
    mg_per_kg: Annotated[float | None, typer.Option(help="mg/kg per session (mg/kg/h for IV pain)")] = None,
    dose_mg: Annotated[float | None, typer.Option(help="esketamine dose in mg (56 or 84)")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json")] = OutputFormat.text,
) -> None:
    """Calculate a dose from the dosing table on the shipped rule set (as `screen` screens on
    it; the app applies the clinic's ceilings), with its basis and source."""
    from ketaclinic.knowledge.dosing import DoseRefused, calculate
    from ketaclinic.knowledge.ruleset import default_ruleset

    try:
        result = calculate(route=route.value, weight_kg=weight_kg, indication=indication,
                           mg_per_kg=mg_per_kg, dose_mg=dose_mg, ruleset=default_ruleset())
    except DoseRefused as exc:
        fail(str(exc))
    if output is OutputFormat.json:
        _print_json(result.as_dict())
        return
    for key, value in result.as_dict().items():
        console.print(f"{key:26s} {value}", markup=False)


@app.command()
def plan(
    route: Annotated[Route, typer.Option(help="route")],
    start: Annotated[str, typer.Option(help="first session day (YYYY-MM-DD)")],
    indication: Annotated[str, typer.Option(help=INDICATION_HELP)] = "depression",
    closed: Annotated[str | None, typer.Option(help="closed weekdays (default: sat,sun)")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json")] = OutputFormat.text,
) -> None:
    """List the dated induction sessions of a course and its maintenance rule."""
    from ketaclinic.knowledge.courses import PlanError
    from ketaclinic.knowledge.courses import plan as make_plan

    first = _parse_day("--start", start)
    closed_days = None
    if closed is not None:
        closed_days = tuple(d.strip().lower() for d in closed.split(",") if d.strip())
    try:
        course = make_plan(route=route.value, start=first, indication=indication,
                           closed_weekdays=closed_days)
    except PlanError as exc:
        fail(str(exc))
    if output is OutputFormat.json:
        _print_json(course.as_dict())
        return
    table = Table(title=f"{course.route} course for {course.indication} from {first}")
    for column in ("#", "date", "day", "week", "phase"):
        table.add_column(column)
    for s in course.sessions:
        table.add_row(str(s.number), s.day.isoformat(), s.day.strftime("%a"), str(s.week), s.phase)
    print_table(table)
    console.print(f"Maintenance: {course.maintenance}", markup=False)
    console.print(f"Source: {course.source}; closed days: {', '.join(course.closed_weekdays) or 'none'}",
                  markup=False)


ANCHOR_OPTION = typer.Option("--anchor", help=(
    "an anchor file (`audit anchor --to`): its last anchor must still be in the chain "
    "(default: KETACLINIC_AUDIT_ANCHOR_FILE when set)"))


@audit_app.command("verify")
def audit_verify(anchor: Annotated[Path | None, ANCHOR_OPTION] = None) -> None:
    """Check the sealed chain and its unsealed rows; exit 1 naming the first bad row if any row
    was changed, removed, added or moved, or rows were cut from the end since the anchor."""
    from ketaclinic.audit import commands
    from ketaclinic.audit import service as audit

    found = commands.anchor_of(anchor, audit.CHAIN)
    report = commands.verify_chain(audit.AUDIT_TRAIL, lambda db, at, progress: audit.verify(
        db=db, anchor=at, progress=progress), found)
    commands.print_intact(report, found)


@audit_app.command("seal")
def audit_seal() -> None:
    """Seal the committed audit and ledger rows now (servers and the worker do it every second)."""
    from ketaclinic import sealer

    console.print(f"sealed {sealer.seal_once()} rows")


@audit_app.command("key")
def audit_key() -> None:
    """Print the sealing key in force as KETACLINIC_AUDIT_KEY would hold it: set that before
    changing KETACLINIC_SECRET_KEY when the key is the one derived from it."""
    from ketaclinic.audit import keyed

    console.print(f"KETACLINIC_AUDIT_KEY={keyed.key_text()}", markup=False, highlight=False)


@audit_app.command("anchor")
def audit_anchor(to: Annotated[Path | None, typer.Option("--to", help=(
        "append the anchor to this file (keep it off the database's host)"))] = None) -> None:
    """Seal what has committed and print the heads of the audit and ledger chains, appending
    them to a file when asked (the worker does so on schedule with KETACLINIC_AUDIT_ANCHOR_FILE)."""
    from ketaclinic import clock, sealer
    from ketaclinic.audit import anchors
    from ketaclinic.db import unit_of_work

    if to is not None:
        try:
            console.print(sealer.anchor(to), markup=False, highlight=False)
        except OSError as exc:
            fail(f"--to: cannot write {to}: {exc.strerror or exc}")
        return
    sealer.seal_once()
    with unit_of_work() as db:
        console.print(anchors.line(sealer.heads(db), clock.now()), markup=False, highlight=False)


@audit_app.command("show")
def audit_show(
    patient: Annotated[str, typer.Option(help="patient id (UUID)")],
    limit: Annotated[int, typer.Option(min=1, max=100000)] = 500,
) -> None:
    """List who touched a patient's record, newest first (this look is itself audited)."""
    import uuid

    from ketaclinic.audit import service as audit
    from ketaclinic.db import unit_of_work
    from ketaclinic.errors import NotFound
    from ketaclinic.kernel.actor import cli_actor
    from ketaclinic.patients import service as patients

    try:
        uuid.UUID(patient)
    except ValueError:
        fail(f"--patient: {patient!r} is not a patient id (accepted: a UUID)")
    try:
        with unit_of_work() as db:
            record = patients.open_patient(db=db, patient_id=patient, actor=cli_actor(),
                                           purpose="audit show")
            events = audit.for_patient(db=db, patient_id=record.id, limit=limit)
    except NotFound:
        fail(f"--patient: no patient with id {patient}")
    table = Table(title=f"Audit trail of {record.given_name} {record.family_name} ({record.id})")
    for column in ("when (UTC)", "who", "role", "action", "record", "from", "detail"):
        table.add_column(column)
    for e in events:
        table.add_row(e.created_at.strftime("%Y-%m-%d %H:%M:%S"), e.created_by, e.role, e.action,
                      f"{e.record_type} {e.record_id}".strip(), e.client, e.detail)
    print_table(table)


def app_args_given() -> bool:
    """Whether the command line had any arguments after the program name."""
    return len(sys.argv) > 1


@app.command("worker")
def worker(interval: Annotated[float, typer.Option(min=1, help="seconds between passes")] = 60,
           once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False
           ) -> None:
    """Send appointment reminders and alert escalation notices as they fall due (retrying
    failures), and cancel the bookings and close the portal accounts of patients since
    recorded as deceased, until stopped."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    warn_if_clock_set()
    if once:
        done = background.run_once()
        console.print(f"reminders: {done.sent} sent, {done.retrying} to retry, {done.failed} "
                          f"failed; alerts: {done.escalated} escalated, {done.notices_sent} "
                          f"notices sent, {done.notices_failed} failed; patients recorded as "
                          f"deceased: {done.cancelled_after_death} appointments cancelled, "
                          f"{done.accounts_closed_after_death} portal accounts closed")
        return
    err_console.print(f"sending reminders and alert notices every {interval:g} s; Ctrl-C stops")
    with contextlib.suppress(KeyboardInterrupt):
        background.run_forever(interval)


def main() -> None:
    """Entry point: usage and settings errors become one line on stderr and a non-zero exit."""
    try:
        result = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("error: aborted")
        sys.exit(1)
    except TyperException as exc:
        if not app_args_given():
            sys.exit(0)  # bare `ketaclinic`: the help was shown
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err_console.print(f"error: {message} (see --help)", markup=False, highlight=False)
        sys.exit(2)
    except SettingsError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(2)
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        err_console.print(f"error: {describe_invalid(exc)}", markup=False, highlight=False)
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
