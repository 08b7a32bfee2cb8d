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

    from ketaclinic.web.serving import shared_port_socket

    listener = shared_port_socket("127.0.0.1", 0)
    try:
        assert listener.proto == socket.IPPROTO_TCP  # uvicorn's own is 0: Nagle stays on
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert listener.getsockname()[0] == "127.0.0.1"
    finally:
        listener.close()


ESTABLISHED, LISTENING = "01", "0A"  # TCP states as /proc/net/tcp writes them


def _established(pid: int, port: int, state: str = ESTABLISHED) -> int:
    """Sockets on `port` in this state (connections, by default) that process `pid` holds
    (from /proc)."""
    from pathlib import Path

    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        held += target.startswith("socket:[") and target[8:-1] in inodes
    return held


@pytest.mark.skipif(not PG_URL, reason="KETACLINIC_TEST_POSTGRES_URL is not set")
def test_several_workers_share_the_connections_and_a_second_server_is_refused(tmp_path) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx2 as httpx

    from tests.conftest import create_postgres_database, drop_postgres_database

    url = create_postgres_database(PG_URL)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "KETACLINIC_DATABASE_URL": url, "KETACLINIC_DEMO": "1"}
    assert run_cli(url, "db", "upgrade").returncode == 0
    server = subprocess.Popen([sys.executable, "-m", "ketaclinic.cli", "serve", "--demo",
                               "--port", str(port), "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        children = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children")
                    .read_text().split()
                    if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(children) == 2
        # /livez answered from one process; the other may still be starting. The kernel
        # spreads connections over the sockets bound when they arrive, and a process accepts
        # its share once it runs: so connect when both listen, and wait for both to accept.
        while (not all(_established(pid, port, LISTENING) for pid in children)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        for _ in range(32):
            clients.append(socket.create_connection(("127.0.0.1", port)))
        accepting = time.monotonic() + 30
        held = [_established(pid, port) for pid in children]
        while sum(held) < 32 and time.monotonic() < accepting:
            time.sleep(0.1)
            held = [_established(pid, port) for pid in children]
        assert sum(held) == 32 and min(held) >= 6, held  # an even spread, not one taking all
        second = run_cli(url, "serve", "--demo", "--port", str(port), "--workers", "2")
        assert second.returncode != 0 and "already in use" in second.stderr
    finally:
        for client in clients:
            client.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0
        drop_postgres_database(url)
