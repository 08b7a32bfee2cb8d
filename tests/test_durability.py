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


def test_sigkill_under_concurrent_writes_loses_nothing_acknowledged_and_the_chain_seals(
        seeded_url: str) -> None:
    import threading
    import time

    from sqlalchemy import select

    from ketaclinic.db import make_engine
    from ketaclinic.patients.models import VitalSigns

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(seeded_url, port)
    acknowledged: list[str] = []
    stop = threading.Event()
    try:
        headers = _token(base)
        patient = httpx.post(f"{base}/api/v1/patients", headers=headers, json={
            "family_name": "Loaded", "given_name": "Kim", "birth_date": "1985-07-07",
            "sex": "other", "site": "HPC"}).json()["id"]

        def write() -> None:
            with httpx.Client(headers=headers, timeout=10) as client:
                while not stop.is_set():
                    try:
                        response = client.post(f"{base}/api/v1/patients/{patient}/vitals",
                                               json={"heart_rate_bpm": 72})
                    except httpx.HTTPError:
                        return  # the server is gone: what it acknowledged is what counts
                    if response.status_code == 201:
                        acknowledged.append(response.json()["id"])

        writers = [threading.Thread(target=write) for _ in range(4)]
        for thread in writers:
            thread.start()
        time.sleep(2.0)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        stop.set()
        for thread in writers:
            thread.join(timeout=15)
    finally:
        stop.set()
        stop_server(server)
    assert len(acknowledged) >= 5, "the load ran"
    engine = make_engine(seeded_url)
    with engine.connect() as conn:
        stored = {str(v) for v in conn.execute(select(VitalSigns.id)).scalars()}
    engine.dispose()
    missing = [i for i in acknowledged if i.replace("-", "") not in
               {s.replace("-", "") for s in stored}]
    assert missing == []
    sealed = run_cli(seeded_url, "audit", "seal")
    assert sealed.returncode == 0, sealed.stderr
    for args in (("audit", "verify"), ("inventory", "verify")):
        verified = run_cli(seeded_url, *args)
        assert verified.returncode == 0, verified.stderr
        assert "unsealed" not in verified.stdout
