"""SQLite's write-ahead log copied back into the database by a thread of its own, so that no
request waits for it.

In WAL mode every commit appends its pages to the log, and by default the commit that takes the
log past 1,000 pages then copies the whole log into the database file and syncs it (a
checkpoint) before it returns: on a busy server one write in a few paid for everyone's, while
holding the one write lock. A server process, and the monitor listener, turns that off for its
own connections (leaving it only as a fallback far past the usual size) and checkpoints from
this thread instead, as PostgreSQL's checkpointer does for its back ends. A PASSIVE checkpoint
takes no write lock and waits for no reader, and changes nothing a commit promised: each commit
has synced its pages to the log before it returned.
"""

import logging
import sqlite3
import threading
import weakref
from pathlib import Path

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# How often the thread looks whether commits have written to the log (the default of the setting
# sqlite_checkpoint_every_s): at the vitals batch's peak, about 25,000 pages a second, each
# checkpoint then copies about 1,250.
LOOK_EVERY_S = 0.05
# Connections of an engine checkpointed here leave it to a commit only past this many pages
# (about 40 MB with 4 KiB pages), in case the thread falls behind or stops.
FALLBACK_PAGES = 10_000

_CHECKPOINTED: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def database_file(engine: Engine) -> Path | None:
    """The SQLite file behind the engine, or None (another database, or one in memory)."""
    if engine.dialect.name != "sqlite":
        return None
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def connection_pragmas(engine: Engine) -> tuple[str, ...]:
    """What each new connection of the engine runs: when a thread checkpoints for it, commits
    checkpoint only past the fallback size; nothing otherwise."""
    return (f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}",) if engine in _CHECKPOINTED else ()


Mark = tuple[int, int]


def log_mark(log_file: Path) -> Mark | None:
    """The log's size and time of last change, or None if there is none.

    Read from its metadata alone: opening and closing any of SQLite's files here would drop
    every lock this process's connections hold on it (POSIX locks belong to the process), and
    another process could then rebuild the shared index under them. (Its size alone would not
    do: SQLite writes the log again from its start after a checkpoint, without shrinking it.)"""
    try:
        status = log_file.stat()
    except FileNotFoundError:
        return None
    return status.st_size, status.st_mtime_ns


def checkpoint_if_changed(connection: sqlite3.Connection, log_file: Path, seen: Mark | None
                          ) -> tuple[bool, Mark | None]:
    """Copy the log back if a commit has written to it since it was `seen`; whether a
    checkpoint ran, and the mark to compare the next look with."""
    mark = log_mark(log_file)
    if mark is None or mark == seen:
        return False, mark
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return True, mark


def run_forever(database: Path, stop: threading.Event, every_s: float = LOOK_EVERY_S) -> None:
    """Checkpoint the database's log whenever commits have written to it since the last look,
    until stopped; an error is logged, never fatal (a commit past the fallback size checkpoints
    meanwhile)."""
    try:
        # Read-write, never create: a database that is not there is not this thread's to make.
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=rw", uri=True,
                                     isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        log.exception("cannot open %s to checkpoint it; commits will", database)
        return
    try:
        connection.execute("PRAGMA busy_timeout=1000")
        log_file = database.with_name(database.name + "-wal")
        seen: Mark | None = None
        while not stop.wait(every_s):
            try:
                _, seen = checkpoint_if_changed(connection, log_file, seen)
            except sqlite3.Error:
                log.exception("checkpoint failed")
    finally:
        connection.close()


def start_in_background(engine: Engine, every_s: float = LOOK_EVERY_S
                        ) -> threading.Event | None:
    """Checkpoint the engine's SQLite file from a daemon thread and leave its connections'
    commits the fallback only; the event stops the thread. None where there is nothing to do
    (PostgreSQL, a database in memory). Call it before the engine's connections are in use: the
    engine's pool is replaced, so that every connection it gives out takes the fallback.
    `every_s` 0 (the setting off) starts nothing either."""
    database = database_file(engine)
    if database is None or not every_s:
        return None
    _CHECKPOINTED.add(engine)
    # A new pool: the idle connections are closed; any in use keep working and go back to the
    # old pool, closed with it.
    engine.dispose()
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(database, stop, every_s),
                     name="wal-checkpoints", daemon=True).start()
    return stop
