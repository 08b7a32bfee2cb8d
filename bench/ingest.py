"""Benchmark: vital-sign ingestion through the HTTP batch endpoint and through MLLP with several
concurrent monitor connections, against a raw driver batch insert of the same number of rows into
the same table, all measured in the same run, on SQLite and (with --postgres) PostgreSQL.

    python bench/ingest.py [--readings 3000] [--batch 100] [--connections 4] [--rounds 3]
                           [--no-mllp]
                           [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
from scratch import cli, drop_database, free_port, fresh_database
from sqlalchemy.orm import Session

from ketaclinic.db import make_engine
from ketaclinic.demo.seed import DEMO_PASSWORD
from ketaclinic.demo.sessions import open_demo_session
from ketaclinic.integrations.pcd01 import MLLP_END, frame
from ketaclinic.treatments.models import TreatmentSession


def _start(url: str, *args: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KETACLINIC_DATABASE_URL": url, "KETACLINIC_DEMO": "1"}
    process = subprocess.Popen([sys.executable, "-m", "ketaclinic.cli", *args, "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{args[0]} did not start")


def _prepare(url: str) -> TreatmentSession:
    cli(url, "db", "upgrade")
    cli(url, "demo", "--patients", "4")
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as db:
        session = open_demo_session(db, site_code="HPC", chair_name="Chair 1")
        db.commit()
    engine.dispose()
    return session


def _times(count: int) -> list[datetime]:
    start = datetime.now(UTC) - timedelta(hours=2)
    return [start + timedelta(milliseconds=500 * i) for i in range(count)]


def bench_http(url: str, session_id: str, readings: int, batch: int) -> float:
    """Readings per second through POST /api/v1/treatment-sessions/{id}/vitals."""
    port = free_port()
    server = _start(url, "serve", "--demo", port=port)
    try:
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(f"{base}/api/v1/auth/token", data={
            "username": "nurse", "password": DEMO_PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        moments = _times(readings)
        bodies = [{"readings": [{"taken_at": m.isoformat(), "systolic_mmhg": 120 + i % 15,
                                 "diastolic_mmhg": 75, "heart_rate_bpm": 70, "spo2_pct": 98}
                                for i, m in enumerate(moments[k:k + batch])]}
                  for k in range(0, readings, batch)]
        with httpx.Client(headers=headers, timeout=60) as client:
            started = time.perf_counter()
            for body in bodies:
                client.post(f"{base}/api/v1/treatment-sessions/{session_id}/vitals",
                            json=body).raise_for_status()
            elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    return readings / elapsed


def _oru(number: int, moment: datetime) -> str:
    stamp = moment.strftime("%Y%m%d%H%M%S.%f")[:-3] + "+0000"
    obx = [("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", 122, "266016^MDC_DIM_MMHG^MDC"),
           ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", 78, "266016^MDC_DIM_MMHG^MDC"),
           ("149530^MDC_PULS_OXIM_PULS_RATE^MDC", 71, "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
           ("150456^MDC_PULS_OXIM_SAT_O2^MDC", 98, "262688^MDC_DIM_PERCENT^MDC")]
    lines = [f"MSH|^~\\&|BenchGW|HPC|||{stamp}||ORU^R01^ORU_R01|B{number:07d}|P|2.6",
             "PV1||O|HPC^Chair 1^1", f"OBR|1|||182777000^monitoring of patient^SNOMED-CT|||{stamp}"]
    lines += [f"OBX|{i}|NM|{code}|1.0.{i}|{value}|{unit}|||||R|||{stamp}"
              for i, (code, value, unit) in enumerate(obx, start=1)]
    return "\r".join(lines) + "\r"


def bench_mllp(url: str, readings: int, connections: int) -> float:
    """Readings per second through `ketaclinic mllp`, one reading per ORU^R01 message."""
    port = free_port()
    listener = _start(url, "mllp", port=port)
    moments = _times(readings)
    share = [list(range(c, readings, connections)) for c in range(connections)]
    failures: list[str] = []

    def gateway(numbers: list[int]) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            for n in numbers:
                sock.sendall(frame(_oru(n, moments[n])))
                reply = b""
                while MLLP_END not in reply:
                    reply += sock.recv(65536)
                if b"MSA|AA" not in reply:
                    failures.append(reply.decode(errors="replace"))

    threads = [threading.Thread(target=gateway, args=(numbers,)) for numbers in share]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    listener.terminate()
    listener.wait()
    if failures:
        raise RuntimeError(f"{len(failures)} messages not accepted, e.g. {failures[0][:200]}")
    return readings / elapsed


def bench_raw(url: str, session_pk: int, chair_pk: int, readings: int, batch: int) -> float:
    """Rows per second for a driver executemany of the same rows (every column the API path
    fills) into session_reading, committed every `batch` rows as the API commits each batch."""
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    now = datetime.now(UTC)
    rows = [(uuid.uuid4() if postgres else uuid.uuid4().hex, now, now, "bench", session_pk,
             chair_pk, None, m, "api", "", "final", 120.0, 75.0, 70.0, None, 98.0, None)
            for m in _times(readings)]
    if not postgres:
        rows = [(r[0], r[1].isoformat(" "), r[2].isoformat(" "), *r[3:7], r[7].isoformat(" "),
                 *r[8:]) for r in rows]
    mark = "%s" if postgres else "?"
    sql = ("INSERT INTO session_reading (id, created_at, updated_at, created_by, session_pk, "
           "chair_pk, message_pk, taken_at, source, device, status, systolic_mmhg, "
           "diastolic_mmhg, heart_rate_bpm, respiratory_rate_per_min, spo2_pct, temperature_c) "
           f"VALUES ({', '.join([mark] * 17)})")
    raw = engine.raw_connection()
    try:
        started = time.perf_counter()
        cursor = raw.cursor()
        for first in range(0, readings, batch):
            if not postgres:
                cursor.execute("BEGIN")  # the engine runs SQLite in autocommit
            cursor.executemany(sql, rows[first:first + batch])
            raw.commit()
        elapsed = time.perf_counter() - started
    finally:
        raw.close()
        engine.dispose()
    return readings / elapsed


def main() -> int:
    """Run every path on every backend and print the rates and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-mllp", dest="mllp", action="store_false",
                        help="measure only the raw insert and the HTTP batch path")
    parser.add_argument("--postgres", default=os.environ.get("KETACLINIC_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    os.environ.setdefault("KETACLINIC_DEMO", "1")  # the demo's key seals the audit rows written here
    if min(args.readings, args.batch, args.connections, args.rounds) < 1:
        print("error: --readings, --batch, --connections and --rounds must be at least 1",
              file=sys.stderr)
        return 2
    os.environ.setdefault("KETACLINIC_SECRET_KEY", "bench-" + uuid.uuid4().hex * 2)
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            url = fresh_database(backend, args.postgres, folder)
            try:
                session = _prepare(url)
                raws, https = [], []
                for _ in range(args.rounds):  # interleaved, so both see the same machine
                    raws.append(bench_raw(url, session.pk, session.chair_pk, args.readings,
                                          args.batch))
                    https.append(bench_http(url, str(session.id), args.readings, args.batch))
                raw, http = statistics.median(raws), statistics.median(https)
                mllp = bench_mllp(url, args.readings, args.connections) if args.mllp else None
            finally:
                if backend == "postgresql":
                    drop_database(url, args.postgres)
            print(f"{backend}: {args.readings} readings, committed every {args.batch}; median of "
                  f"{args.rounds} interleaved rounds")
            print(f"  raw driver executemany:   {raw:10.0f} readings/s")
            print(f"  HTTP batch of {args.batch:<4d}:       {http:10.0f} readings/s  "
                  f"ratio to raw {http / raw:.3f}")
            if mllp is not None:
                print(f"  MLLP, {args.connections} connections:     {mllp:10.0f} readings/s  "
                      f"ratio to raw {mllp / raw:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
