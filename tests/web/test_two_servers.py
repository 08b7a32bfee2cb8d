"""Two servers on one PostgreSQL share everything a request depends on: failed sign-ins made
at either count toward one account lock-out and one address limit, and a token revoked at one
stops working at the other within the token cache's few seconds."""

import time

import httpx2 as httpx
import pytest

from ketaclinic.demo.seed import DEMO_PASSWORD
from tests.cli_helpers import run_cli
from tests.conftest import PG_URL, drop_postgres_database, fresh_database_url
from tests.server_helpers import free_port, start_server, stop_server

pytestmark = pytest.mark.skipif(not PG_URL, reason="KETACLINIC_TEST_POSTGRES_URL is not set")


@pytest.fixture
def two_servers(tmp_path):
    url = fresh_database_url("postgresql", tmp_path)
    for args in (("db", "upgrade"), ("demo", "--patients", "2")):
        assert run_cli(url, *args).returncode == 0
    env = {"KETACLINIC_LOCKOUT_FAILED_ATTEMPTS": "4", "KETACLINIC_ADDRESS_MAX_FAILURES": "7"}
    ports = [free_port(), free_port()]
    servers = [start_server(url, port, extra_env=env) for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        _DATABASES[tuple(bases)] = url
        yield bases
    finally:
        for server in servers:
            stop_server(server)
        drop_postgres_database(url)


_DATABASES: dict[tuple[str, ...], str] = {}


def _database_of(bases: list[str]) -> str:
    return _DATABASES[tuple(bases)]


def _sign_in(base: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/auth/token",
                      data={"username": username, "password": password})


def test_failed_sign_ins_at_either_server_lock_the_account_and_limit_the_address(
        two_servers) -> None:
    first, second = two_servers
    for attempt in range(4):  # alternating servers: the count is the database's
        refused = _sign_in(first if attempt % 2 else second, "nurse", "wrong password")
        assert refused.status_code == 401, refused.text
    locked = _sign_in(first, "nurse", DEMO_PASSWORD)
    assert locked.status_code in (401, 423) and "Too many failed attempts" in locked.text
    assert _sign_in(second, "frontdesk", DEMO_PASSWORD).status_code == 200  # others sign in
    for attempt in range(3):  # three more from this address: seven in all
        _sign_in(second if attempt % 2 else first, "prescriber", "wrong password")
    limited = _sign_in(second, "frontdesk", DEMO_PASSWORD)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


def test_a_token_revoked_elsewhere_stops_working_at_both_servers(two_servers, tmp_path) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from ketaclinic.auth import service as auth
    from ketaclinic.auth.models import User
    from ketaclinic.db import make_engine

    first = two_servers[0]
    token = _sign_in(first, "nurse", DEMO_PASSWORD).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for base in two_servers:  # both servers now hold the token in their caches
        assert httpx.get(f"{base}/api/v1/patients", headers=headers).status_code == 200
    engine = make_engine(_database_of(two_servers))
    with Session(engine) as db:  # as an administrator's action at a third process would
        nurse = db.execute(select(User).where(User.username == "nurse")).scalar_one()
        auth.revoke_all(db=db, user_pk=nurse.pk)
        db.commit()
    engine.dispose()
    deadline = time.monotonic() + 10  # each server's cache holds a token 5 s at most
    for base in two_servers:
        while httpx.get(f"{base}/api/v1/patients", headers=headers).status_code != 401:
            assert time.monotonic() < deadline, f"{base} still takes a revoked token"
            time.sleep(0.5)
