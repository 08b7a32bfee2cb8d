"""Benchmark: the floor the stack sets under an audited read, measured the way
`bench/request_path.py` measures ketaclinic's own.

A bare FastAPI app, served by uvicorn as ketaclinic serves (one process on SQLite, two workers on
PostgreSQL), with two routes: `/livez` (a plain `def` answering a constant, as ketaclinic's
does) and `/read/{id}`, a plain `def` doing the least an audited read can do: one SQLAlchemy
Core SELECT of a row by key, one INSERT of an audit row, one commit, and a JSON answer. No
authentication, no middleware, no ORM, no chain, and no wait for the disk at commit. wrk with
16 connections drives each in interleaved rounds; the ratio of the medians bounds what any
audited read on this stack and machine can reach against its server's liveness route, whatever
the application does.

    python bench/floor.py [--seconds 5] [--rounds 3]
                          [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx2 as httpx
from request_path import wrk
from scratch import drop_database, free_port, fresh_database
from sqlalchemy import create_engine, text

APP = '''
import os, uuid
from datetime import datetime, timezone
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import create_engine, event, text

url = os.environ["FLOOR_DATABASE_URL"]
sqlite = url.startswith("sqlite")
# No waiting for the disk at commit (SQLite synchronous=NORMAL in WAL, PostgreSQL
# synchronous_commit off): the floor is an upper bound, cheaper than any durable audited read.
connect_args = ({"check_same_thread": False, "timeout": 30} if sqlite
                else {"options": "-c synchronous_commit=off"})
engine = create_engine(url, pool_size=20, max_overflow=0, pool_pre_ping=not sqlite,
                       connect_args=connect_args)
if sqlite:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
SELECT = text("SELECT id, family_name, given_name, birth_date FROM floor_patient WHERE id = :id")
AUDIT = text("INSERT INTO floor_audit (at, actor, record_id) VALUES (:at, :actor, :record_id)")
app = FastAPI()


@app.get("/livez")
def alive():
    return JSONResponse({"status": "ok"})


@app.get("/read/{patient_id}")
def read(patient_id: str):
    with engine.begin() as conn:
        row = conn.execute(SELECT, {"id": patient_id}).one()
        conn.execute(AUDIT, {"at": datetime.now(timezone.utc).isoformat(), "actor": "nurse",
                             "record_id": patient_id})
    return JSONResponse({"id": row.id, "family_name": row.family_name,
                         "given_name": row.given_name, "birth_date": row.birth_date})
'''


def _prepare(url: str) -> str:
    engine = create_engine(url)
    patient = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE floor_patient (id VARCHAR(36) PRIMARY KEY, "
                          "family_name TEXT, given_name TEXT, birth_date TEXT)"))
        conn.execute(text("CREATE TABLE floor_audit (seq INTEGER PRIMARY KEY "
                          + ("AUTOINCREMENT" if url.startswith("sqlite") else
                             "GENERATED ALWAYS AS IDENTITY")
                          + ", at TEXT, actor TEXT, record_id TEXT)"))
        conn.execute(text("INSERT INTO floor_patient VALUES (:id, 'Garcia', 'Ana', '1980-02-03')"),
                     [{"id": patient}] + [{"id": str(uuid.uuid4())} for _ in range(99)])
    if url.startswith("sqlite"):
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    engine.dispose()
    return patient


def _serve(url: str, folder: str, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    Path(folder, "floor_app.py").write_text(APP)
    port = free_port()
    env = {**os.environ, "FLOOR_DATABASE_URL": url, "PYTHONPATH": folder}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "floor_app:app", "--port",
                               str(port), "--workers", str(workers), "--no-access-log",
                               "--log-level", "warning"], env=env, cwd=folder)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2).status_code == 200:
                return server, port
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the floor app did not start")


def measure(url: str, folder: str, workers: int, seconds: float, rounds: int
            ) -> tuple[float, float, float]:
    """Median read rate, median liveness rate and median per-round ratio."""
    patient = _prepare(url)
    server, port = _serve(url, folder, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        read = f"{base}/read/{patient}"
        assert httpx.get(read).status_code == 200
        wrk(read, None, min(2.0, seconds), 16)
        wrk(f"{base}/livez", None, min(2.0, seconds), 16)
        reads, lives, ratios = [], [], []
        for _ in range(rounds):
            rate, failed = wrk(read, None, seconds, 16)
            if failed:
                raise RuntimeError(f"{failed} reads failed")
            alive, _ = wrk(f"{base}/livez", None, seconds, 16)
            reads.append(rate)
            lives.append(alive)
            ratios.append(rate / alive)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return statistics.median(reads), statistics.median(lives), statistics.median(ratios)


def main() -> int:
    """Measure the floor on SQLite and, when given, PostgreSQL; print rates and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("KETACLINIC_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    backends = [("sqlite", 1)] + ([("postgresql", 2)] if args.postgres else [])
    with tempfile.TemporaryDirectory() as folder:
        for backend, workers in backends:
            url = fresh_database(backend, args.postgres, folder)
            try:
                read, alive, ratio = measure(url, folder, workers, args.seconds, args.rounds)
            finally:
                if backend == "postgresql":
                    drop_database(url, args.postgres)
            print(f"{backend}: bare FastAPI, {workers} server process(es), wrk 16 connections, "
                  f"median of {args.rounds} interleaved rounds")
            print(f"  SELECT + audit INSERT + commit: {read:8.0f} req/s")
            print(f"  /livez:                         {alive:8.0f} req/s")
            print(f"  ratio                           {ratio:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
