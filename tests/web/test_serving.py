"""Serving: several workers only on PostgreSQL, a tuned pool with a statement timeout, and an
access log that is off unless asked for and then one JSON line per request."""

import json
import logging

import pytest
from sqlalchemy import text

from ketaclinic.db import make_engine
from ketaclinic.settings import Settings
from ketaclinic.web.access_log import JsonAccessFormatter, log_config
from tests.cli_helpers import run_cli
from tests.conftest import PG_URL


def test_several_workers_on_sqlite_are_refused_in_one_line(tmp_path) -> None:
    result = run_cli(f"sqlite:///{tmp_path / 'one.db'}", "serve", "--demo", "--workers", "2")
    assert result.returncode != 0
    assert result.stderr.startswith("error: --workers: SQLite is served by one process")
    assert result.stderr.count("\n") == 1, result.stderr


def test_the_access_log_is_off_by_default_and_json_when_on() -> None:
    assert Settings().access_log is False
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("10.0.0.7:51234", "GET", "/healthz", "1.1", 200), None)
    line = JsonAccessFormatter().format(record)
    assert "\n" not in line
    assert {k: v for k, v in json.loads(line).items() if k != "time"} == {
        "client": "10.0.0.7:51234", "method": "GET", "path": "/healthz", "http": "1.1",
        "status": 200}
    assert log_config()["formatters"]["access"]["()"].endswith("JsonAccessFormatter")


@pytest.mark.skipif(not PG_URL, reason="KETACLINIC_TEST_POSTGRES_URL is not set")
def test_postgresql_connections_are_pooled_with_a_statement_timeout(monkeypatch) -> None:
    monkeypatch.setenv("KETACLINIC_DB_POOL_SIZE", "3")
    monkeypatch.setenv("KETACLINIC_DB_STATEMENT_TIMEOUT_MS", "1500")
    from ketaclinic.settings import get_settings

    get_settings.cache_clear()
    try:
        engine = make_engine(PG_URL)
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "1500ms"
        assert engine.pool.size() == 3  # type: ignore[attr-defined]
        engine.dispose()
    finally:
        get_settings.cache_clear()


def test_liveness_answers_without_a_login_or_the_database(anon) -> None:
    response = anon.get("/livez")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_the_workers_listening_socket_is_tcp_so_answers_are_not_held_back() -> None:
    import socket

    import uvicorn

    from ketaclinic.web.serving import APP, listening_socket

    config = uvicorn.Config(APP, factory=True, host="127.0.0.1", port=0, workers=2)
    listener = listening_socket(config)
    try:
        assert listener.proto == socket.IPPROTO_TCP  # uvicorn's own is 0: Nagle stays on
        assert listener.getsockname()[0] == "127.0.0.1"
    finally:
        listener.close()
