"""An acknowledged write survives the server being killed outright."""

import os
import signal

import httpx2 as httpx
import pytest

from ketaclinic.demo.seed import DEMO_PASSWORD
from tests.cli_helpers import run_cli
from tests.conftest import BACKENDS, drop_postgres_database, fresh_database_url
from tests.server_helpers import free_port, start_server, stop_server


@pytest.fixture(params=BACKENDS)
def seeded_url(request: pytest.FixtureRequest, tmp_path) -> str:
    url = fresh_database_url(request.param, tmp_path)
    for args in (("db", "upgrade"), ("demo", "--patients", "2")):
        assert run_cli(url, *args).returncode == 0
    yield url
    if request.param == "postgresql":
        drop_postgres_database(url)


def _token(base: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/v1/auth/token",
                          data={"username": "nurse", "password": DEMO_PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_patient_survives_sigkill_right_after_201(seeded_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(seeded_url, port)
    try:
        headers = _token(base)
        created_ids = []
        for n in range(3):
            response = httpx.post(f"{base}/api/v1/patients", headers=headers, json={
                "family_name": f"Durable{n}", "given_name": "Kim", "birth_date": "1985-07-07",
                "sex": "other", "site": "HPC"})
            assert response.status_code == 201
            created_ids.append(response.json()["id"])
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    finally:
        stop_server(server)
    restarted = start_server(seeded_url, port)
    try:
        headers = _token(base)
        for n, patient_id in enumerate(created_ids):
            found = httpx.get(f"{base}/api/v1/patients/{patient_id}", headers=headers)
            assert found.status_code == 200
            assert found.json()["family_name"] == f"Durable{n}"
    finally:
        stop_server(restarted)
    assert run_cli(seeded_url, "audit", "verify").returncode == 0
