"""Benchmark: vital-sign ingestion through the HTTP batch endpoint (driven by wrk, several
connections) and through MLLP with several concurrent monitor connections, against a raw driver
batch insert of the same rows into the same table at the same commit size, from one connection
and from as many as the load uses, all measured in the same run, on SQLite and (with --postgres)
PostgreSQL. On PostgreSQL the raw insert is also run as the API path inserts a batch there, one
statement with an array for each column that varies and the values every row shares sent once,
and the HTTP path's ratio is to the fastest raw figure. The
server runs as each back end is deployed: one process on SQLite, two workers on PostgreSQL. The
raw inserts run with SQLite's defaults (the commit that takes the write-ahead log past 1,000 pages copies it
back); a server process does that from a thread of its own (ketaclinic/wal_checkpoints.py).

Each raw connection first inserts a few batches untimed (its statement is then prepared, as the
server's are by the time wrk's measured round starts after its warm-up round), and a raw round
inserts enough rows to last about as long as a wrk round lasts, so that neither side's figure is
its warm-up or a moment's swing of the machine's speed.

    python bench/ingest.py [--readings 100000] [--messages 10000] [--batch 100]
                           [--connections 8] [--seconds 5] [--rounds 3] [--no-mllp]
                           [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

import argparse
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from request_path import _start as _start_server
from request_path import _stop, _token, server_log, wrk
from scratch import cli, drop_database, free_port, fresh_database
from sqlalchemy import Table
from sqlalchemy.orm import Session

from ketaclinic.array_inserts import column_array, insert_statement
from ketaclinic.db import make_engine
from ketaclinic.demo.sessions import open_demo_session
from ketaclinic.integrations.pcd01 import MLLP_END, frame
from ketaclinic.kernel.time_ordered_ids import time_ordered_ids
from ketaclinic.treatments.models import SessionReading, TreatmentSession
from ketaclinic.treatments.service import VITAL_FIELDS

SESSION_READING = cast(Table, SessionReading.__table__)
# Batches each raw connection inserts before it is timed: psycopg prepares a statement on its
# fifth run (`prepare_threshold`), and the server's statements are prepared by the time wrk's
# measured round starts.
WARM_BATCHES = 6


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
    """`count` distinct times within the last two hours, half a second apart where they fit."""
    span = timedelta(hours=2)
    step = min(timedelta(milliseconds=500), span / max(count, 1))
    start = datetime.now(UTC) - span
    return [start + step * i for i in range(count)]


# Each request posts a batch of readings at times no other request of any wrk run uses, as a
# monitor's readings are (and as the raw rounds' are): thread `id`'s request n is stamped
# `start` + 100 s * id + n // per_second seconds, and its readings that second's microseconds
# (n % per_second) * batch + i. Only the stamp's prefix is made per request; the rest of each
# reading is text made once, so that wrk spends little of the machine on making bodies.
HTTP_SCRIPT = """
local start = %(start)d
local per_second = %(per_second)d
local request_digits = "%%0%(request_digits)dd"
local after = {%(after)s}
local body = {'{"readings": [{"taken_at": "'}
local counter = 0
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local second = start + id * %(thread_seconds)d + math.floor(counter / per_second)
  local prefix = os.date("!%%Y-%%m-%%dT%%H:%%M:%%S.", second)
                 .. string.format(request_digits, counter %% per_second)
  counter = counter + 1
  for i = 1, #after do
    body[2 * i] = prefix
    body[2 * i + 1] = after[i]
  end
  return wrk.format(nil, nil, nil, table.concat(body))
end
"""
# Seconds of stamps each wrk thread has to itself in a run (a million requests' worth at a batch
# of 100), and between the starts of two runs (room for ten threads; wrk runs two,
# `request_path.wrk`).
THREAD_SECONDS = 100
RUN_SECONDS = 1000
_runs = itertools.count()


def _http_script(folder: str, batch: int) -> str:
    """A wrk script posting batches of `batch` readings, every reading at a time of its own: no
    two requests of this run or of any other run this process makes share one."""
    reading_digits = len(str(batch - 1))
    if reading_digits > 4:
        raise ValueError("a batch of at most 10,000 readings")
    run = next(_runs)
    # stamped within the day before now, as a session checked in now accepts them
    start = int(time.time()) - 23 * 3600 + run * RUN_SECONDS
    if start + RUN_SECONDS > time.time():
        raise RuntimeError("more wrk runs than fit in the day before now")
    after = [f'{i:0{reading_digits}d}+00:00", "systolic_mmhg": {120 + i % 15}, '
             f'"diastolic_mmhg": 75, "heart_rate_bpm": 70, "spo2_pct": 98}}'
             + (', {"taken_at": "' if i < batch - 1 else "]}") for i in range(batch)]
    script = Path(folder, f"vitals-{batch}-{run}.lua")
    # a JSON string is a valid Lua string literal for this ASCII text
    script.write_text(HTTP_SCRIPT % {
        "start": start, "per_second": 10 ** (6 - reading_digits),
        "request_digits": 6 - reading_digits, "thread_seconds": THREAD_SECONDS,
        "after": ", ".join(json.dumps(a) for a in after)})
    return str(script)


def bench_http(url: str, session_id: str, batch: int, connections: int, seconds: float,
               folder: str, workers: int) -> float:
    """Readings per second through POST /api/v1/treatment-sessions/{id}/vitals under wrk."""
    port = free_port()
    server = _start_server(url, port, workers)
    try:
        base = f"http://127.0.0.1:{port}"
        token = _token(base)
        target = f"{base}/api/v1/treatment-sessions/{session_id}/vitals"
        # warm up; each run posts readings at times of its own (`_http_script`)
        wrk(target, token, min(1.0, seconds), connections, _http_script(folder, batch))
        rate, failed = wrk(target, token, seconds, connections, _http_script(folder, batch))
    finally:
        _stop(server)
    if failed:
        raise RuntimeError(f"{failed} batches refused; the server's output is in "
                           f"{server_log(port)}")
    return rate * batch


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


def bench_raw(url: str, session_pk: int, chair_pk: int, readings: int, batch: int,
              connections: int, arrays: bool = False) -> float:
    """Rows per second for driver executemany of the same rows (every column the API path
    fills) into session_reading, committed every `batch` rows as the API commits each batch,
    from `connections` connections at once; with `arrays` (PostgreSQL), each batch as one
    statement of a binary array for each column that varies (packed as the API path packs it,
    `array_inserts.column_array`), unnested into rows beside the values they share, as the API
    path inserts them (`array_inserts.insert_statement`). Each connection first inserts
    `WARM_BATCHES` batches of rows of its own, untimed."""
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    now = datetime.now(UTC)
    warm = connections * WARM_BATCHES * batch
    total = warm + readings
    # the ids the API path gives: each batch's ids begin with its own millisecond
    ids = [key for first in range(0, total, batch)
           for key in time_ordered_ids(min(batch, total - first),
                                       now + timedelta(milliseconds=first // batch))]
    rows: list[tuple[Any, ...]] = [
        (key if postgres else key.hex, now, now, "bench", session_pk, chair_pk, None, m, "api", "",
         "final", 120.0, 75.0, 70.0, None, 98.0, None)
        for key, m in zip(ids, _times(total), strict=True)]
    if not postgres:
        rows = [(r[0], r[1].isoformat(" "), r[2].isoformat(" "), *r[3:7], r[7].isoformat(" "),
                 *r[8:]) for r in rows]
    mark = "%s" if postgres else "?"
    names = ("id", "created_at", "updated_at", "created_by", "session_pk", "chair_pk",
             "message_pk", "taken_at", "source", "device", "status", *VITAL_FIELDS)
    # as the API path sends a batch: an array for each column that varies, the shared values once
    varying = ("id", "taken_at", *VITAL_FIELDS)
    sql = (insert_statement(SESSION_READING, varying, tuple(n for n in names if n not in varying))
           if arrays else f"INSERT INTO session_reading ({', '.join(names)}) "
           f"VALUES ({', '.join([mark] * len(names))})")
    batches = [rows[first:first + batch] for first in range(0, total, batch)]
    warming, timed = batches[:warm // batch], batches[warm // batch:]
    shares = [(warming[c::connections], timed[c::connections]) for c in range(connections)]
    raws = [engine.raw_connection() for _ in range(connections)]
    ready = threading.Barrier(connections + 1)

    def insert(raw: Any, share: tuple[list[list[Any]], list[list[Any]]]) -> None:
        cursor = raw.cursor()
        warm_up, measured = share
        for rows_of_batch in warm_up:
            put(raw, cursor, rows_of_batch)
        ready.wait()
        for rows_of_batch in measured:
            put(raw, cursor, rows_of_batch)

    def put(raw: Any, cursor: Any, rows_of_batch: list[Any]) -> None:
        if not postgres:
            cursor.execute("BEGIN IMMEDIATE")  # the engine runs SQLite in autocommit
        if arrays:
            columns = dict(zip(names, ([*column] for column in zip(*rows_of_batch, strict=True)),
                               strict=True))
            cursor.execute(sql, {name: column_array(SESSION_READING, name, values)
                                 if name in varying else values[0]
                                 for name, values in columns.items()})
        else:
            cursor.executemany(sql, rows_of_batch)
        raw.commit()

    threads = [threading.Thread(target=insert, args=(raw, share))
               for raw, share in zip(raws, shares, strict=True)]
    try:
        for thread in threads:
            thread.start()
        ready.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        for raw in raws:
            raw.close()
        engine.dispose()
    return readings / elapsed


def main() -> int:
    """Run every path on every backend and print the rates and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100000,
                        help="rows each raw round inserts (about a second's worth or more)")
    parser.add_argument("--messages", type=int, default=10000,
                        help="messages the MLLP run sends")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5, help="length of each wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-mllp", dest="mllp", action="store_false",
                        help="measure only the raw insert and the HTTP batch path")
    parser.add_argument("--postgres", default=os.environ.get("KETACLINIC_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    os.environ.setdefault("KETACLINIC_DEMO", "1")  # the demo's key seals the audit rows written here
    if min(args.readings, args.messages, args.batch, args.connections, args.rounds,
           args.seconds) <= 0:
        print("error: --readings, --messages, --batch, --connections, --seconds and --rounds "
              "must be positive", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    os.environ.setdefault("KETACLINIC_SECRET_KEY", "bench-" + uuid.uuid4().hex * 2)
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            url = fresh_database(backend, args.postgres, folder)
            # served as each back end is deployed: SQLite in one process, PostgreSQL with two
            workers = 2 if backend == "postgresql" else 1
            try:
                session = _prepare(url)
                # the raw ways of inserting a batch: executemany, and on PostgreSQL one
                # statement of arrays (the way the API path inserts there)
                ways = [(False, 1), (False, args.connections)] + (
                    [(True, 1), (True, args.connections)] if backend == "postgresql" else [])
                raws: dict[tuple[bool, int], list[float]] = {way: [] for way in ways}
                https = []
                for _ in range(args.rounds):  # interleaved, so all see the same machine
                    for arrays, connections in ways:
                        raws[arrays, connections].append(bench_raw(
                            url, session.pk, session.chair_pk, args.readings, args.batch,
                            connections, arrays))
                    https.append(bench_http(url, str(session.id), args.batch,
                                            args.connections, args.seconds, folder, workers))
                medians = {way: statistics.median(rates) for way, rates in raws.items()}
                http = statistics.median(https)
                raw = max(medians.values())  # the HTTP path is held to the fastest baseline
                mllp = bench_mllp(url, args.messages, args.connections) if args.mllp else None
            finally:
                if backend == "postgresql":
                    drop_database(url, args.postgres)
            print(f"{backend}: committed every {args.batch} readings; median of {args.rounds} "
                  f"interleaved rounds")
            for (arrays, connections), rate in medians.items():
                way = "one statement of arrays" if arrays else "executemany"
                print(f"  raw driver {way}, {connections} connection"
                      f"{'s' if connections > 1 else ''}: {rate:10.0f} readings/s")
            print(f"  HTTP batch of {args.batch}, wrk {args.connections} connections, {workers} "
                  f"server process{'es' if workers > 1 else ''}: {http:8.0f} readings/s  "
                  f"ratio to raw {http / raw:.3f}")
            if mllp is not None:
                print(f"  MLLP, {args.connections} connections:     {mllp:10.0f} readings/s  "
                      f"ratio to raw {mllp / raw:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
