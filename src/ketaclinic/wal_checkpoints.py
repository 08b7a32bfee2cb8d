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
import struct
import threading
import weakref
from pathlib import Path

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# SQLite's own threshold: the log is copied back once it holds this many pages not yet copied.
CHECKPOINT_PAGES = 1000
# How often the thread looks at the log's size (the default of the setting
# sqlite_checkpoint_every_s): at the vitals batch's peak, about 25,000 pages a second, the log
# grows by about 1,250 pages between looks.
LOOK_EVERY_S = 0.05
# Connections of an engine checkpointed here leave it to a commit only past this many pages
# (about 40 MB with 4 KiB pages), in case the thread falls behind or stops.
FALLBACK_PAGES = 10_000

_CHECKPOINTED: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def autocheckpoint_pages(engine: Engine) -> int | None:
    """The log size at which the engine's connections checkpoint on commit: the fallback when a
    thread checkpoints for them, else None (SQLite's default)."""
    return FALLBACK_PAGES if engine in _CHECKPOINTED else None


def database_file(engine: Engine) -> Path | None:
    """The SQLite file behind the engine, or None (another database, or one in memory)."""
    if engine.dialect.name != "sqlite":
        return None
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


# The wal-index (the "-shm" file beside the database) starts with its header, which holds the
# log's last valid frame (mxFrame) at byte 16 and how many frames a checkpoint has copied back
# (nBackfill) at byte 96, each 32 bits in the machine's byte order
# (https://www.sqlite.org/walformat.html). The log file's size says nothing of this: SQLite
# writes it again from the start after a checkpoint, without shrinking it.
_LAST_FRAME_AT, _COPIED_AT = 16, 96
_HEADER_BYTES = _COPIED_AT + 4


def frames_waiting(index_file: Path) -> int:
    """Pages (frames) in the log not yet copied back, as the wal-index says; read without a lock,
    so a hint (a commit may be writing it), which is all the choice of when to checkpoint
    needs. 0 without a wal-index."""
    try:
        with index_file.open("rb") as index:
            header = index.read(_HEADER_BYTES)
    except OSError:
        return 0
    if len(header) < _HEADER_BYTES:
        return 0
    (last,) = struct.unpack_from("=I", header, _LAST_FRAME_AT)
    (copied,) = struct.unpack_from("=I", header, _COPIED_AT)
    return max(last - copied, 0)


def checkpoint_if_due(connection: sqlite3.Connection, index_file: Path, pages: int) -> bool:
    """Copy the log back if at least `pages` of its pages wait for it; whether one ran."""
    if frames_waiting(index_file) < pages:
        return False
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return True


def run_forever(database: Path, stop: threading.Event, every_s: float = LOOK_EVERY_S,
                pages: int = CHECKPOINT_PAGES) -> None:
    """Checkpoint the database's log whenever `pages` of its pages wait to be copied back, until
    stopped; an error is logged, never fatal (a commit past the fallback size checkpoints
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
        index_file = database.with_name(database.name + "-shm")
        while not stop.wait(every_s):
            try:
                checkpoint_if_due(connection, index_file, pages)
            except sqlite3.Error:
                log.exception("checkpoint failed")
    finally:
        connection.close()


def start_in_background(engine: Engine, every_s: float = LOOK_EVERY_S,
                        pages: int = CHECKPOINT_PAGES) -> threading.Event | None:
    """Checkpoint the engine's SQLite file from a daemon thread and leave its connections'
    commits the fallback only; the event stops the thread. None where there is nothing to do
    (PostgreSQL, a database in memory). Call it before the engine's connections are in use: the
    engine's pool is replaced, so that every connection it gives out takes the fallback."""
    database = database_file(engine)
    if database is None:
        return None
    _CHECKPOINTED.add(engine)
    # A new pool: the idle connections are closed; any in use keep working and go back to the
    # old pool, closed with it.
    engine.dispose()
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(database, stop, every_s, pages),
                     name="wal-checkpoints", daemon=True).start()
    return stop
