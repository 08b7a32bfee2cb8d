"""`ketaclinic import-fhir`: files or folders of Bundles, each imported atomically."""

from pathlib import Path
from typing import Annotated

import typer

from ketaclinic.cli_support import console, fail, progress_bar


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        found += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    return found


def import_fhir(
    paths: Annotated[list[Path], typer.Argument(help="Bundle files or folders of them")],
    site: Annotated[str, typer.Option(help="site code the imported patients are registered at")],
) -> None:
    """Import FHIR R4 Bundles: a summary per file; a broken bundle changes nothing."""
    import json

    from ketaclinic.clinics.models import Site
    from ketaclinic.db import session_factory
    from ketaclinic.errors import DomainError, InvalidInput
    from ketaclinic.fhir.importer import import_bundle
    from ketaclinic.kernel.actor import cli_actor

    files = _files(paths)
    missing = [str(f) for f in files if not f.is_file()]
    if missing or not files:
        fail(f"PATHS: {', '.join(missing) or 'no .json files'} not found (accepted: Bundle "
                 "files or folders holding them)")
    from sqlalchemy import select

    with session_factory()() as db:
        site_pks = frozenset(db.execute(select(Site.pk)).scalars())
        codes = ", ".join(db.execute(select(Site.code).order_by(Site.code)).scalars())
        if not codes:
            fail("--site: no site exists yet (accepted: add one first with "
                     "'ketaclinic sites create', or seed the demo with 'ketaclinic demo')")
        if db.execute(select(Site.pk).where(Site.code == site)).first() is None:
            fail(f"--site: {site!r} is not a site (accepted: {codes})")
    actor = cli_actor()
    actor = type(actor)(username=actor.username, role="system", site_pks=site_pks, client="cli")
    failed = 0
    with progress_bar() as progress:
        task = progress.add_task("importing bundles", total=len(files))
        for path in files:
            with session_factory()() as db:
                try:
                    bundle = json.loads(path.read_bytes())
                    result = import_bundle(db=db, bundle=bundle, site=site, actor=actor)
                    db.commit()
                except (ValueError, OSError) as exc:
                    db.rollback()
                    failed += 1
                    console.print(f"{path.name}: rejected, nothing stored: not JSON ({exc})")
                except DomainError as exc:
                    db.rollback()
                    failed += 1
                    why = "; ".join(p.text() for p in exc.problems) if isinstance(
                        exc, InvalidInput) else exc.detail
                    console.print(f"{path.name}: rejected, nothing stored: {why}")
                else:
                    created = ", ".join(f"{k} {v}" for k, v in sorted(result.created.items()))
                    console.print(
                        f"{path.name}: created {sum(result.created.values())} ({created or 'none'}), "
                        f"unchanged {sum(result.unchanged.values())}, "
                        f"skipped {sum(result.skipped.values())}")
                    for reason, count in result.reasons.most_common(3):
                        console.print(f"    skipped {count}: {reason}")
            progress.advance(task)
    if failed:
        raise typer.Exit(1)


def export_fhir(
    out: Annotated[Path, typer.Option(help="folder for the NDJSON files (created if missing)")],
    since: Annotated[str, typer.Option(help="only resources updated since (YYYY-MM-DD)")] = "",
) -> None:
    """Write every patient's resources as NDJSON per type, the same files as $export."""
    from datetime import UTC, date, datetime

    from sqlalchemy import select

    from ketaclinic.db import session_factory
    from ketaclinic.fhir import bulk
    from ketaclinic.patients.models import Patient

    try:
        start = (datetime.combine(date.fromisoformat(since), datetime.min.time(), tzinfo=UTC)
                 if since else None)
    except ValueError:
        fail(f"--since: {since!r} is not a date (accepted: YYYY-MM-DD)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--out: cannot create {out}: {exc.strerror}")
    counts: dict[str, int] = {}
    with session_factory()() as db, progress_bar() as progress:
        pks = list(db.execute(select(Patient.pk).order_by(Patient.pk)).scalars())
        task = progress.add_task("exporting patients", total=len(pks))
        handles = {t: (out / f"{t}.ndjson").open("w", encoding="utf-8") for t in bulk.EXPORT_TYPES}
        try:
            for pk in pks:
                for resource_type, lines in bulk.ndjson_by_type(db, [pk], list(bulk.EXPORT_TYPES),
                                                                start).items():
                    for line in lines:
                        handles[resource_type].write(line + "\n")
                    counts[resource_type] = counts.get(resource_type, 0) + len(lines)
                progress.advance(task)
        finally:
            for handle in handles.values():
                handle.close()
    for resource_type in bulk.EXPORT_TYPES:
        if not counts.get(resource_type):
            (out / f"{resource_type}.ndjson").unlink(missing_ok=True)
    console.print("wrote " + ", ".join(f"{t} {n}" for t, n in sorted(counts.items()) if n)
                      + f" to {out}")
