"""Backups that restore: SQLite through its online backup API (a consistent copy while the clinic
works), PostgreSQL through pg_dump's custom format and pg_restore (Debian's postgresql-client).
Every backup is checked after it is written: SQLite's integrity check, the audit chain, and the
row count of every table against the database it came from."""

import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import Engine, create_engine, func, inspect, make_url, select, table, text
from sqlalchemy.orm import Session

from ketaclinic.audit import service as audit
from ketaclinic.db import make_engine
from ketaclinic.inventory import integrity


class BackupFailed(RuntimeError):
    """A backup or restore that could not be made or did not check out; the reason says why."""


@dataclass(frozen=True)
class Check:
    """What the check of a copy found."""

    tables: dict[str, int]
    audit_rows: int
    audit_head: str


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupFailed("the database is not a SQLite file")
    return Path(database)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the database (Alembic's version table left out)."""
    names = [n for n in inspect(engine).get_table_names() if n != "alembic_version"]
    with engine.connect() as connection:
        return {name: int(connection.execute(select(func.count()).select_from(table(name))
                                             ).scalar_one())
                for name in sorted(names)}


def check(engine: Engine) -> Check:
    """Row counts and the audit and ledger chains of a database (BackupFailed if either is
    broken or a ledger transaction does not add up)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            result = connection.exec_driver_sql("PRAGMA integrity_check").scalar_one()
        if result != "ok":
            raise BackupFailed(f"SQLite integrity check: {result}")
    with Session(engine) as db:
        report = audit.verify(db=db)
        ledger = integrity.verify(db=db)
    if not report.ok:
        raise BackupFailed(f"audit chain broken at seq {report.bad_ref}: {report.reason}")
    if not ledger.chain.ok:
        raise BackupFailed(f"ledger chain broken at row {ledger.chain.bad_ref}: "
                           f"{ledger.chain.reason}")
    if ledger.unbalanced:
        raise BackupFailed(f"ledger transaction {ledger.unbalanced[0]} does not add up to zero")
    return Check(counts(engine), report.rows_checked + report.unsealed,
                 f"{report.head.pos} {report.head.mac}")


def _run(command: list[str]) -> None:
    tool = shutil.which(command[0])
    if tool is None:
        raise BackupFailed(f"{command[0]} is not installed (Debian: apt-get install "
                           "postgresql-client)")
    # The tool and its arguments are ours; the URL and path come from the operator's own command.
    done = subprocess.run([tool, *command[1:]], capture_output=True, text=True,  # noqa: S603
                          check=False)
    if done.returncode != 0:
        raise BackupFailed(f"{command[0]}: {done.stderr.strip().splitlines()[-1:] or 'failed'}")


@contextmanager
def _scratch_postgres(url: str) -> Iterator[str]:
    """A new, empty database on the same server, dropped afterwards."""
    base = make_url(_libpq(url))
    name = f"ketaclinic_check_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(base.render_as_string(hide_password=False),
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backup(url: str, target: Path) -> Check:
    """Write a backup of the database at `url` to `target`, then check it."""
    if target.exists():
        raise BackupFailed(f"{target} exists already; choose a new file")
    source = make_engine(url)
    try:
        before = counts(source)
        if source.dialect.name == "sqlite":
            with sqlite3.connect(_sqlite_path(url)) as live, sqlite3.connect(target) as copy:
                live.backup(copy)
            copy_engine = create_engine(f"sqlite:///{target}")
            try:
                found = check(copy_engine)
            finally:
                copy_engine.dispose()
        else:
            _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", _libpq(url)])
            with _scratch_postgres(url) as scratch:
                _run(["pg_restore", "--no-owner", f"--dbname={scratch}", str(target)])
                scratch_engine = make_engine(scratch)
                try:
                    found = check(scratch_engine)
                finally:
                    scratch_engine.dispose()
    finally:
        source.dispose()
    short = {t: n for t, n in before.items() if found.tables.get(t, 0) < n}
    if short:
        target.unlink(missing_ok=True)
        raise BackupFailed(f"the copy is missing rows of {', '.join(sorted(short))}")
    return found


def restore(url: str, source: Path) -> Check:
    """Restore a backup into the empty database at `url`, then check it."""
    if not source.is_file():
        raise BackupFailed(f"{source} is not a file")
    target = make_engine(url)
    try:
        if inspect(target).get_table_names():
            raise BackupFailed("the database is not empty: restore only into a new, empty one")
        if target.dialect.name == "sqlite":
            target.dispose()
            with sqlite3.connect(source) as backup_file, \
                    sqlite3.connect(_sqlite_path(url)) as fresh:
                backup_file.backup(fresh)
            target = make_engine(url)
        else:
            _run(["pg_restore", "--no-owner", f"--dbname={_libpq(url)}", str(source)])
        return check(target)
    finally:
        target.dispose()


def table_rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order (for comparing a copy with its source)."""
    names = [n for n in inspect(engine).get_table_names() if n != "alembic_version"]
    found = {}
    with engine.connect() as connection:
        for name in sorted(names):
            rows = connection.execute(select(text("*")).select_from(table(name))).all()
            found[name] = sorted((tuple(row) for row in rows), key=repr)
    return found
