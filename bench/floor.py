"""Benchmark: the floor the stack sets under an audited read and under a batch of vital signs,
measured the way `bench/request_path.py` and `bench/ingest.py` measure ketaclinic's own.

A bare FastAPI app, served by uvicorn as ketaclinic serves (one process on SQLite, two workers on
PostgreSQL), with two routes: `/livez` (a plain `def` answering a constant, as ketaclinic's
does) and `/read/{id}`, a plain `def` doing the least an audited read can do: one SQLAlchemy
Core SELECT of a row by key, one INSERT of an audit row, one commit, and a JSON answer. No
authentication, no middleware, no ORM, no chain, and no wait for the disk at commit. wrk with
16 connections drives each in interleaved rounds; the ratio of the medians bounds what any
audited read on this stack and machine can reach against its server's liveness route, whatever
the application does.

The same app's `/batch` takes a batch of 100 readings as `POST .../vitals` does (JSON validated
by a pydantic model), inserts them with the driver's executemany into a table of
`session_reading`'s columns and commits durably; wrk posts batches from 8 connections, and the
ratio is to a raw driver executemany of the same rows at the same commit size (bench/ingest.py's
executemany baseline): what an HTTP batch path inserting that way could reach with no
authentication, session, alarm rules or audit. (On PostgreSQL ketaclinic inserts a batch as one
statement of arrays, and bench/ingest.py holds it to the faster raw insert.)

    python bench/floor.py [--seconds 5] [--rounds 3] [--readings 100000]
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
from ingest import _http_script, bench_raw
from request_path import wrk
from scratch import drop_database, free_port, fresh_database
from sqlalchemy import create_engine, text

APP = '''
import os
from datetime import datetime, timezone
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import create_engine, event, text

from ketaclinic.kernel.time_ordered_ids import time_ordered_ids  # the ids ketaclinic gives

url = os.environ["FLOOR_DATABASE_URL"]
sqlite = url.startswith("sqlite")
# The read: no waiting for the disk at commit (SQLite synchronous=NORMAL in WAL, PostgreSQL
# synchronous_commit off), an upper bound cheaper than any durable audited read. The batch:
# durable, as the raw insert it is compared with (FLOOR_DURABLE=1).
durable = bool(os.environ.get("FLOOR_DURABLE"))
connect_args = ({"check_same_thread": False, "timeout": 30} if sqlite
                else {} if durable else {"options": "-c synchronous_commit=off"})
engine = create_engine(url, pool_size=20, max_overflow=0, pool_pre_ping=not sqlite,
                       connect_args=connect_args)
if sqlite:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA synchronous=" + ("FULL" if durable else "NORMAL"))
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


class ReadingIn(BaseModel):
    taken_at: datetime
    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    heart_rate_bpm: float | None = None
    respiratory_rate_per_min: float | None = None
    spo2_pct: float | None = None
    temperature_c: float | None = None


class ReadingsIn(BaseModel):
    readings: list[ReadingIn] = Field(min_length=1, max_length=1000)


INSERT = ("INSERT INTO session_reading (id, created_at, updated_at, created_by, session_pk, "
          "chair_pk, message_pk, taken_at, source, device, status, systolic_mmhg, "
          "diastolic_mmhg, heart_rate_bpm, respiratory_rate_per_min, spo2_pct, temperature_c) "
          "VALUES (" + ", ".join(["?" if sqlite else "%s"] * 17) + ")")


@app.post("/batch", status_code=201)
def batch(data: ReadingsIn):
    now = datetime.now(timezone.utc)
    stamp = (lambda t: t.isoformat(" ")) if sqlite else (lambda t: t)
    ids = time_ordered_ids(len(data.readings), now)
    rows = [(key.hex if sqlite else key, stamp(now), stamp(now), "floor", 1, 1, None,
             stamp(r.taken_at), "api", "", "final", r.systolic_mmhg, r.diastolic_mmhg,
             r.heart_rate_bpm, r.respiratory_rate_per_min, r.spo2_pct, r.temperature_c)
            for key, r in zip(ids, data.readings, strict=True)]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        cursor.executemany(INSERT, rows)
        raw.commit()
    finally:
        raw.close()
    return JSONResponse({"stored": len(rows)}, status_code=201)
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
        sqlite = url.startswith("sqlite")
        moment, key = ("TEXT", "TEXT") if sqlite else ("TIMESTAMPTZ", "UUID")
        conn.execute(text(
            f"CREATE TABLE session_reading (pk INTEGER PRIMARY KEY "
            f"{'AUTOINCREMENT' if sqlite else 'GENERATED ALWAYS AS IDENTITY'}, id {key} UNIQUE, "
            f"created_at {moment}, updated_at {moment}, created_by TEXT, session_pk INTEGER, "
            f"chair_pk INTEGER, message_pk INTEGER, taken_at {moment}, source TEXT, device TEXT, "
            "status TEXT, systolic_mmhg FLOAT, diastolic_mmhg FLOAT, heart_rate_bpm FLOAT, "
            "respiratory_rate_per_min FLOAT, spo2_pct FLOAT, temperature_c FLOAT)"))
        conn.execute(text("CREATE INDEX session_reading_at ON session_reading "
                          "(session_pk, taken_at)"))
        conn.execute(text("INSERT INTO floor_patient VALUES (:id, 'Garcia', 'Ana', '1980-02-03')"),
                     [{"id": patient}] + [{"id": str(uuid.uuid4())} for _ in range(99)])
    if url.startswith("sqlite"):
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    engine.dispose()
    return patient


def _serve(url: str, folder: str, workers: int, durable: bool = False
           ) -> tuple[subprocess.Popen[bytes], int]:
    Path(folder, "floor_app.py").write_text(APP)
    port = free_port()
    env = {**os.environ, "FLOOR_DATABASE_URL": url, "PYTHONPATH": folder,
           **({"FLOOR_DURABLE": "1"} if durable else {})}
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


def measure_batch(url: str, folder: str, workers: int, seconds: float, rounds: int,
                  readings: int, batch: int = 100, connections: int = 8
                  ) -> tuple[float, float, float]:
    """Median rows/s of the bare batch route (wrk posting batches, as bench/ingest.py does),
    median rows/s of the faster raw driver insert (1 or `connections` connections) of the same
    rows at the same commit size (`readings` rows a raw round), and the median per-round
    ratio."""
    routes, raws, ratios = [], [], []
    for _ in range(rounds):
        raw = max(bench_raw(url, 1, 1, readings, batch, 1),
                  bench_raw(url, 1, 1, readings, batch, connections))
        server, port = _serve(url, folder, workers, durable=True)
        try:
            target = f"http://127.0.0.1:{port}/batch"
            wrk(target, None, min(1.0, seconds), connections, _http_script(folder, batch))
            rate, failed = wrk(target, None, seconds, connections, _http_script(folder, batch))
        finally:
            server.terminate()
            server.wait(timeout=30)
        if failed:
            raise RuntimeError(f"{failed} batches refused")
        routes.append(rate * batch)
        raws.append(raw)
        ratios.append(rate * batch / raw)
    return statistics.median(routes), statistics.median(raws), statistics.median(ratios)


def main() -> int:
    """Measure the floor on SQLite and, when given, PostgreSQL; print rates and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--readings", type=int, default=100000,
                        help="rows each raw round inserts (as bench/ingest.py's default)")
    parser.add_argument("--postgres", default=os.environ.get("KETACLINIC_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    if args.seconds <= 0 or args.rounds < 1 or args.readings < 1:
        print("error: --seconds and --readings must be positive and --rounds at least 1",
              file=sys.stderr)
        return 2
    backends = [("sqlite", 1)] + ([("postgresql", 2)] if args.postgres else [])
    with tempfile.TemporaryDirectory() as folder:
        for backend, workers in backends:
            url = fresh_database(backend, args.postgres, folder)
            try:
                read, alive, ratio = measure(url, folder, workers, args.seconds, args.rounds)
                route, raw, batch_ratio = measure_batch(url, folder, workers, args.seconds,
                                                        args.rounds, args.readings)
            finally:
                if backend == "postgresql":
                    drop_database(url, args.postgres)
            print(f"{backend}: bare FastAPI, {workers} server process(es), median of "
                  f"{args.rounds} interleaved rounds")
            print(f"  SELECT + audit INSERT + commit, wrk 16 connections: {read:8.0f} req/s")
            print(f"  /livez, wrk 16 connections:                         {alive:8.0f} req/s")
            print(f"  ratio                                               {ratio:8.3f}")
            print(f"  POST of 100 readings, wrk 8 connections:            {route:8.0f} readings/s")
            print(f"  raw driver executemany, same rows and commit size:  {raw:8.0f} readings/s")
            print(f"  ratio                                               {batch_ratio:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
