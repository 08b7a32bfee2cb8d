"""SQLite's write-ahead log is copied back by a server's own thread, not by a request's commit."""

import builtins
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, text

from ketaclinic import wal_checkpoints
from ketaclinic.app import lifespan
from ketaclinic.db import make_engine
from ketaclinic.migrate import upgrade
from ketaclinic.settings import get_settings
from tests.own_loop import run_in_own_loop
from tests.web.conftest import engine_of_the_process

ROWS_A_COMMIT = 50


def _engine(folder: Path) -> tuple[Engine, Path]:
    database = folder / "clinic.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE reading (id INTEGER PRIMARY KEY, note TEXT)"))
    return engine, database


def _autocheckpoint(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _write(engine: Engine, commits: int) -> None:
    for _ in range(commits):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO reading (note) VALUES (:note)"),
                               [{"note": "x" * 200}] * ROWS_A_COMMIT)


def _wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_server_thread_copies_the_log_back_and_commits_leave_it_alone(tmp_path: Path) -> None:
    engine, database = _engine(tmp_path)
    with engine.connect() as connection:  # a connection opened before the thread starts
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 1000
    stop = wal_checkpoints.start_in_background(engine, every_s=0.01)
    assert stop is not None
    try:
        # every connection the engine gives out now, the one opened before included, leaves the
        # log to the thread up to the fallback size
        assert _autocheckpoint(engine) == wal_checkpoints.FALLBACK_PAGES
        before = database.stat().st_size
        _write(engine, commits=20)
        # the rows reach the database file itself: only a checkpoint puts them there, and no
        # commit here was past the fallback size
        assert _wait_until(lambda: database.stat().st_size > before + 20 * 4096)
        with engine.connect() as connection:
            count = connection.exec_driver_sql("SELECT count(*) FROM reading").scalar_one()
        assert count == 20 * ROWS_A_COMMIT
    finally:
        stop.set()
        engine.dispose()


def test_without_the_thread_a_commit_checkpoints_as_sqlite_does(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path)
    try:
        assert _autocheckpoint(engine) == 1000
        assert wal_checkpoints.connection_pragmas(engine) == ()
    finally:
        engine.dispose()


def test_the_thread_stops_when_told(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path)
    stop = wal_checkpoints.start_in_background(engine, every_s=0.01)
    assert stop is not None
    ours = [t for t in threading.enumerate() if t.name == "wal-checkpoints"]
    stop.set()
    try:
        assert _wait_until(lambda: not any(t.is_alive() for t in ours[-1:]))
    finally:
        engine.dispose()


def test_nothing_is_started_where_there_is_no_sqlite_file() -> None:
    memory = create_engine("sqlite://")
    postgres = make_engine("postgresql://nobody@127.0.0.1:1/none")  # never connected
    assert wal_checkpoints.start_in_background(memory) is None
    assert wal_checkpoints.start_in_background(postgres) is None
    assert wal_checkpoints.connection_pragmas(postgres) == ()


def test_a_missing_database_is_not_created(tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "gone.db"
    wal_checkpoints.run_forever(missing, threading.Event(), every_s=0.01)
    assert not missing.exists()
    assert "cannot open" in caplog.text


def test_the_log_is_copied_back_when_a_commit_has_written_to_it_since_the_last_look(
        tmp_path: Path) -> None:
    engine, database = _engine(tmp_path)
    stop = wal_checkpoints.start_in_background(engine, every_s=60)  # marks the engine; idle
    assert stop is not None
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        log_file = database.with_name(database.name + "-wal")
        _write(engine, commits=3)  # the engine keeps its connection, and so the log
        ran, seen = wal_checkpoints.checkpoint_if_changed(connection, log_file, None)
        assert ran and seen == wal_checkpoints.log_mark(log_file)
        # what SQLite itself counts: every page of the log has been copied back
        _busy, in_log, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert in_log == copied > 3
        assert wal_checkpoints.checkpoint_if_changed(connection, log_file, seen) == (False, seen)
        time.sleep(0.02)  # past the file system's clock tick
        _write(engine, commits=1)  # starts the log again from its beginning, the same size
        ran, _ = wal_checkpoints.checkpoint_if_changed(connection, log_file, seen)
        assert ran
        assert wal_checkpoints.checkpoint_if_changed(connection, tmp_path / "none-wal",
                                                     seen) == (False, None)
    finally:
        stop.set()
        connection.close()
        engine.dispose()


def test_the_thread_never_opens_the_database_files_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing a file of SQLite's would drop every lock the process holds on it (POSIX locks):
    another process could then rebuild the shared index a connection here has mapped, and this
    process die of it. Only SQLite opens them; the thread reads the log's size."""
    engine, database = _engine(tmp_path)
    opened: list[str] = []
    real_open = Path.open

    def watched_open(path: Path, *args: object, **kwargs: object) -> object:
        opened.append(str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    def watched_builtin_open(file: object, *args: object, **kwargs: object) -> object:
        opened.append(str(file))
        return real_builtin_open(file, *args, **kwargs)  # type: ignore[call-overload]

    real_builtin_open = builtins.open
    monkeypatch.setattr(Path, "open", watched_open)
    monkeypatch.setattr(builtins, "open", watched_builtin_open)
    before = database.stat().st_size
    stop = wal_checkpoints.start_in_background(engine, every_s=0.005)
    assert stop is not None
    try:
        _write(engine, commits=5)
        assert _wait_until(lambda: database.stat().st_size > before)  # it did checkpoint
    finally:
        stop.set()
        engine.dispose()
    assert not [name for name in opened if name.startswith(str(database))]


def _checkpointers() -> int:
    return sum(t.name == "wal-checkpoints" and t.is_alive() for t in threading.enumerate())


def test_a_server_process_checkpoints_from_its_own_thread_on_sqlite(
        empty_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETACLINIC_AUDIT_SEAL_EVERY_S", "0")
    monkeypatch.setenv("KETACLINIC_DEMO", "0")
    get_settings.cache_clear()
    engine = make_engine(empty_database)
    upgrade(engine)
    app = FastAPI(lifespan=lifespan)
    before = _checkpointers()

    sqlite = engine.dialect.name == "sqlite"

    async def serving() -> tuple[int, int | None]:
        async with app.router.lifespan_context(app):
            return _checkpointers(), _autocheckpoint(engine) if sqlite else None

    try:
        with engine_of_the_process(engine):
            during, pages = run_in_own_loop(serving)
    finally:
        get_settings.cache_clear()
    if sqlite:
        assert during == before + 1 and pages == wal_checkpoints.FALLBACK_PAGES
        assert _wait_until(lambda: _checkpointers() == before)  # stopped with the server
    else:
        assert during == before


def test_the_setting_off_starts_nothing(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path)
    try:
        assert wal_checkpoints.start_in_background(engine, every_s=0) is None
        assert wal_checkpoints.connection_pragmas(engine) == ()
    finally:
        engine.dispose()
