"""PostgreSQL connections are checked with the server at checkout only after lying idle
(ketaclinic.pool_checks): one given back a moment ago goes straight to its next request, and one
the server ended while it lay idle is replaced before anyone uses it."""

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ketaclinic import pool_checks
from ketaclinic.db import make_engine
from tests.moved_clock import MovedClock

PINGS: list[object] = []


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> MovedClock:
    """The checks' clock, moved by the test (the rest of the process keeps the real one)."""
    moved = MovedClock(1000.0)
    monkeypatch.setattr(pool_checks, "time", SimpleNamespace(monotonic=moved))
    return moved


@pytest.fixture()
def engine(one_connection_postgres: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The app's engine keeping one connection, the connections it pings listed in PINGS."""
    dialect = one_connection_postgres.dialect
    ping = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        PINGS.append(dbapi_connection)
        return ping(dbapi_connection)

    PINGS.clear()
    monkeypatch.setattr(dialect, "do_ping", counted)
    return one_connection_postgres


def _backend(engine: Engine) -> int:
    """The server process of the connection a request's session gets (rolled back on an error,
    as a request's is)."""
    db = Session(engine)
    try:
        return int(db.execute(text("SELECT pg_backend_pid()")).scalar_one())
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


def _end_backend(engine: Engine, pid: int) -> None:
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with other.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"),
                                      {"pid": pid}).scalar_one()
    finally:
        other.dispose()


def test_a_connection_given_back_a_moment_ago_is_used_without_asking_the_server(
        engine: Engine, clock: MovedClock) -> None:
    first = _backend(engine)  # a new connection: not pinged
    clock.now += pool_checks.PING_AFTER_IDLE_S / 2
    assert _backend(engine) == first
    assert PINGS == []
    clock.now += pool_checks.PING_AFTER_IDLE_S
    assert _backend(engine) == first
    assert len(PINGS) == 1


def test_a_connection_the_server_ended_while_idle_is_replaced_before_use(
        engine: Engine, clock: MovedClock) -> None:
    ended = _backend(engine)
    _end_backend(engine, ended)
    clock.now += pool_checks.PING_AFTER_IDLE_S
    replacement = _backend(engine)  # no error: the ping found it gone and the pool reconnected
    assert replacement != ended
    assert len(PINGS) == 1


def test_a_connection_lost_a_moment_after_use_fails_once_then_the_pool_reconnects(
        engine: Engine, clock: MovedClock) -> None:
    ended = _backend(engine)
    _end_backend(engine, ended)
    with pytest.raises(DBAPIError) as lost:  # not idle: used as it is, as if lost mid-request
        _backend(engine)
    assert lost.value.connection_invalidated
    assert _backend(engine) != ended
