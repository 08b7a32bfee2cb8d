"""Fixtures of the web layer's tests."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ketaclinic import db as dbmod
from ketaclinic.db import make_engine
from tests.web.test_write_reach import site_a_users, site_b  # noqa: F401  (the reach tests')


@pytest.fixture
def sqlite_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The process-wide engine on a new SQLite file with one table; a short wait for the turn,
    so that a write that could never get it fails within the test."""
    monkeypatch.setattr(dbmod, "SQLITE_BUSY_TIMEOUT_S", 3.0)
    engine = make_engine(f"sqlite:///{tmp_path}/writers.db")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE note (n INTEGER)")
    with engine_of_the_process(engine):
        yield engine


@contextmanager
def engine_of_the_process(engine: Engine) -> Iterator[None]:
    """Make the engine the process-wide one for a while; dispose of it afterwards."""
    previous = dbmod.get_engine()
    dbmod.set_engine(engine)
    try:
        yield
    finally:
        dbmod.set_engine(previous)
        engine.dispose()
