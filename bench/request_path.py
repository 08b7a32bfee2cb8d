"""Benchmark: the request path at network scale, measured with a real load generator (wrk).

1. An authenticated, audited JSON read of a patient's demographics against the same server's
   liveness route (`/livez`, no database), 16 connections, interleaved rounds; the ratio of the
   medians. SQLite: one server process; PostgreSQL: `serve --workers 2`.
2. 32 clients mixing reads and writes (vitals batches, FHIR Observation creates, measures,
   bookings) for 60 s against one server on SQLite and against two servers on one PostgreSQL:
   the count of 5xx answers, every acknowledged write looked up afterwards, and `audit verify`
   and `inventory verify` once the sealer has caught up.

    python bench/request_path.py [--seconds 10] [--rounds 3] [--mixed-seconds 60]
                                 [--postgres postgresql://postgres@127.0.0.1:5432/test]

wrk comes from Debian's packages (`apt-get install wrk`).
"""

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
from scratch import cli, drop_database, free_port, fresh_database
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import Unsealed
from ketaclinic.db import make_engine
from ketaclinic.demo.seed import DEMO_PASSWORD
from ketaclinic.demo.sessions import open_demo_session
from ketaclinic.measures.models import Measure
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatments.models import SessionReading, TreatmentSession

RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SOCKET_ERRORS = re.compile(r"Socket errors:.*")


def server_log(port: int) -> str:
    """Where the server on this port writes its output (kept, so a 5xx can be explained)."""
    return os.path.join(tempfile.gettempdir(), f"ketaclinic-bench-server-{port}.log")


def _start(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KETACLINIC_DATABASE_URL": url, "KETACLINIC_DEMO": "1"}
    with open(server_log(port), "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "ketaclinic.cli", "serve", "--demo",
                                    "--port", str(port), "--workers", str(workers)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _token(base: str, username: str = "nurse") -> str:
    response = httpx.post(f"{base}/api/v1/auth/token",
                          data={"username": username, "password": DEMO_PASSWORD}, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


@dataclass
class Clinic:
    """What the load needs: a patient at the demo's first site and an open treatment session."""

    patient_id: str
    session_id: str
    site: str


def _prepare(url: str) -> Clinic:
    cli(url, "db", "upgrade")
    cli(url, "demo", "--patients", "6")
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as db:
        session = open_demo_session(db, site_code="HPC", chair_name="Chair 1")
        db.commit()
        patient = db.execute(select(Patient).where(Patient.pk == session.patient_pk)).scalar_one()
    engine.dispose()
    return Clinic(patient_id=str(patient.id), session_id=str(session.id), site="HPC")


def wrk(url: str, token: str | None, seconds: float, connections: int,
        script: str | None = None) -> tuple[float, int]:
    """Requests per second and non-2xx answers of one wrk run (a Lua script may vary them)."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    if script:
        args += ["-s", script]
    output = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    rate = RATE.search(output)
    if rate is None:
        raise RuntimeError(f"wrk printed no rate:\n{output}")
    bad = NON_2XX.search(output)
    return float(rate.group(1)), int(bad.group(1)) if bad else 0


def bench_read(url: str, clinic: Clinic, workers: int, seconds: float, rounds: int
               ) -> tuple[float, float, float, int]:
    """Median audited-read rate, median liveness rate, median of the per-round ratios, and the
    non-2xx answers seen."""
    port = free_port()
    server = _start(url, port, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        token = _token(base)
        read = f"{base}/api/v1/patients/{clinic.patient_id}"
        assert httpx.get(read, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        warm_up = min(2.0, seconds)
        wrk(read, token, warm_up, 16)  # warm up both paths
        wrk(f"{base}/livez", None, warm_up, 16)
        reads, hellos, ratios, bad = [], [], [], 0
        for _ in range(rounds):
            rate, failed = wrk(read, token, seconds, 16)
            hello, hello_failed = wrk(f"{base}/livez", None, seconds, 16)
            reads.append(rate)
            hellos.append(hello)
            ratios.append(rate / hello)
            bad += failed + hello_failed
    finally:
        _stop(server)
    return statistics.median(reads), statistics.median(hellos), statistics.median(ratios), bad


@dataclass
class Tally:
    """What the mixed load did."""

    statuses: Counter[str] = field(default_factory=Counter)
    observations: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    appointments: list[str] = field(default_factory=list)
    readings: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _observation(patient_id: str, moment: datetime) -> dict[str, object]:
    loinc = "http://loinc.org"
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": loinc, "code": "85354-9"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": moment.isoformat(),
            "component": [
                {"code": {"coding": [{"system": loinc, "code": "8480-6"}]},
                 "valueQuantity": {"value": random.randint(110, 140), "unit": "mmHg"}},
                {"code": {"coding": [{"system": loinc, "code": "8462-4"}]},
                 "valueQuantity": {"value": random.randint(70, 90), "unit": "mmHg"}}]}


def _client_loop(bases: list[str], token: str, clinic: Clinic, until: float, tally: Tally,
                 number: int) -> None:
    rng = random.Random(number)
    headers = {"Authorization": f"Bearer {token}"}
    clients = [httpx.Client(base_url=b, headers=headers, timeout=30) for b in bases]
    try:
        while time.monotonic() < until:
            client = rng.choice(clients)
            kind = rng.choice(("read", "read", "read", "fhir-read", "vitals", "observation",
                               "measure", "booking"))
            now = datetime.now(UTC)
            try:
                if kind == "read":
                    response = client.get(f"/api/v1/patients/{clinic.patient_id}")
                elif kind == "fhir-read":
                    response = client.get(f"/fhir/Patient/{clinic.patient_id}")
                elif kind == "vitals":
                    body = {"readings": [{"taken_at": (now - timedelta(seconds=i)).isoformat(),
                                          "systolic_mmhg": 118 + i, "diastolic_mmhg": 76,
                                          "heart_rate_bpm": 70, "spo2_pct": 98}
                                         for i in range(5)]}
                    response = client.post(f"/api/v1/treatment-sessions/{clinic.session_id}"
                                           "/vitals", json=body)
                elif kind == "observation":
                    response = client.post("/fhir/Observation",
                                           json=_observation(clinic.patient_id, now))
                elif kind == "measure":
                    response = client.post(f"/api/v1/patients/{clinic.patient_id}/measures",
                                           json={"instrument": "gad7",
                                                 "answers": [rng.randint(0, 3) for _ in range(7)]})
                else:
                    day = now + timedelta(days=rng.randint(30, 400))
                    start = day.replace(hour=rng.randint(14, 20), minute=rng.choice((0, 30)),
                                        second=0, microsecond=0)
                    response = client.post("/api/v1/appointments", json={
                        "patient_id": clinic.patient_id, "site": clinic.site,
                        "kind": "follow-up", "starts_at": start.isoformat()})
            except httpx.HTTPError as exc:
                with tally.lock:
                    tally.statuses[f"{kind} error {type(exc).__name__}"] += 1
                continue
            with tally.lock:
                tally.statuses[f"{kind} {response.status_code}"] += 1
                if response.status_code == 201:
                    if kind == "observation":
                        tally.observations.append(response.headers["location"])
                    elif kind == "measure":
                        tally.measures.append(response.json()["id"])
                    elif kind == "booking":
                        tally.appointments.append(response.json()["id"])
                    elif kind == "vitals":
                        tally.readings += 5
    finally:
        for client in clients:
            client.close()


def _missing(url: str, clinic: Clinic, tally: Tally, base: str, token: str) -> list[str]:
    """Acknowledged writes that cannot be found afterwards."""
    missing = []
    engine = make_engine(url)
    with Session(engine) as db:
        measures = {str(i) for i in db.execute(select(Measure.id)).scalars()}
        appointments = {str(i) for i in db.execute(select(Appointment.id)).scalars()}
        readings = db.execute(select(func.count()).select_from(SessionReading).join(
            TreatmentSession, TreatmentSession.pk == SessionReading.session_pk).where(
            TreatmentSession.id == uuid.UUID(clinic.session_id))).scalar_one()
    engine.dispose()
    if readings < tally.readings:
        missing.append(f"{tally.readings - readings} vital-sign readings")
    missing += [f"measure {m}" for m in tally.measures if m not in measures]
    missing += [f"appointment {a}" for a in tally.appointments if a not in appointments]
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for location in tally.observations:
            path = "/fhir/" + location.split("/fhir/", 1)[1].split("/_history", 1)[0]
            if client.get(f"{base}{path}").status_code != 200:
                missing.append(f"observation {path}")
    return missing


def _wait_sealed(url: str, seconds: float = 60) -> float:
    engine = make_engine(url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            with Session(engine) as db:
                if not db.execute(select(func.count()).select_from(Unsealed)).scalar_one():
                    return time.monotonic() - started
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise RuntimeError("the sealer did not catch up within a minute")


def bench_mixed(url: str, clinic: Clinic, servers: int, workers: int, seconds: float,
                clients: int) -> None:
    """32 clients mixing reads and writes; prints what they were answered and what was kept."""
    ports = [free_port() for _ in range(servers)]
    processes = [_start(url, port, workers) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    tally = Tally()
    try:
        token = _token(bases[0])
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=_client_loop,
                                    args=(bases, token, clinic, until, tally, n))
                   for n in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        caught_up = _wait_sealed(url)
        missing = _missing(url, clinic, tally, bases[0], token)
    finally:
        for process in processes:
            _stop(process)
    total = sum(tally.statuses.values())
    server_errors = sum(n for key, n in tally.statuses.items()
                        if key.split()[-1].startswith("5") or " error " in key)
    print(f"  mixed: {clients} clients, {servers} server(s) x {workers} worker(s), "
          f"{elapsed:.0f} s: {total} requests ({total / elapsed:.0f}/s), 5xx or dropped: "
          f"{server_errors}")
    print("   ", ", ".join(f"{key}: {n}" for key, n in sorted(tally.statuses.items())))
    if server_errors:
        for line, times in _errors_logged(ports).most_common(5):
            print(f"    server logged {times}x: {line}")
        print("    servers' logs:", ", ".join(server_log(port) for port in ports))
    print(f"  acknowledged writes: {len(tally.observations)} observations, {len(tally.measures)} "
          f"measures, {len(tally.appointments)} bookings, {tally.readings} vital-sign readings; "
          f"missing afterwards: {len(missing)} {missing[:3]}")
    print(f"  sealer caught up {caught_up:.1f} s after the load ended")
    for command in (("audit", "verify"), ("inventory", "verify")):
        print("   ", cli(url, *command).strip().splitlines()[0])


_EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Detected)\b.*")


def _errors_logged(ports: list[int]) -> Counter[str]:
    """The exception lines the servers logged (their first 160 characters), by how often."""
    found: Counter[str] = Counter()
    for port in ports:
        with open(server_log(port), encoding="utf-8", errors="replace") as log:
            found.update(line.strip()[:160] for line in log if _EXCEPTION_LINE.match(line))
    return found


def main() -> int:
    """Run both measurements on every backend and print the rates, ratios and outcomes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mixed-seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--skip-mixed", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("KETACLINIC_DEMO", "1")  # the demo's key seals what this process writes
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            workers = 2 if backend == "postgresql" else 1
            url = fresh_database(backend, args.postgres, folder)
            try:
                clinic = _prepare(url)
                read, hello, ratio, bad = bench_read(url, clinic, workers, args.seconds,
                                                     args.rounds)
                print(f"{backend} ({workers} worker{'s' if workers > 1 else ''}): audited read "
                      f"{read:.0f} req/s, /livez {hello:.0f} req/s, ratio {ratio:.2f} (median of "
                      f"{args.rounds} interleaved {args.seconds:g} s rounds, 16 connections); "
                      f"non-2xx: {bad}")
                if not args.skip_mixed:
                    servers = 2 if backend == "postgresql" else 1
                    bench_mixed(url, clinic, servers, 1, args.mixed_seconds, args.clients)
            finally:
                if backend == "postgresql":
                    drop_database(url, args.postgres)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
