"""Load tool: N bedside monitors over MLLP against `ketaclinic mllp`, with the web server beside it,
on SQLite and (with --postgres) PostgreSQL.

    python bench/monitor_feed.py [--monitors 600] [--seconds 60] [--watched 20]
                                 [--postgres postgresql://postgres@127.0.0.1:5432/test]

Each monitor is one connection at a chair with an open treatment session, sending a PCD-01
ORU^R01 message of 5 OBX (systolic, diastolic, pulse, SpO2, respiratory rate) once a second on a
fixed schedule, the next only after the last was acknowledged. Once during the run, at a time
known in advance, a monitor's systolic crosses the alarm limit (190 against 180). Reported:
readings a second acknowledged over the run, the backlog (how far behind its schedule the last
message of each monitor went out), acknowledgement latency percentiles, and for the `--watched`
monitors the time from sending the crossing reading to its alarm appearing through the API
(`GET /api/v1/treatment-sessions/{id}`, polled every 50 ms from the crossing) and to the first
'changed' event after its acknowledgement on the session's live event stream.
"""

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import cast

import httpx2 as httpx
from scratch import cli, drop_database, free_port, fresh_database
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Chair, Site
from ketaclinic.courses.models import Course
from ketaclinic.db import insert_many, make_engine
from ketaclinic.demo.seed import DEMO_PASSWORD
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.integrations.pcd01 import MLLP_END, frame
from ketaclinic.patients.models import Patient, PatientMrn
from ketaclinic.treatments.models import TreatmentSession

GOAL_READINGS_S, GOAL_ACK_P99_MS, GOAL_ALARM_P99_S = 3000, 500, 2.0
OBX_PER_MESSAGE = 5
NORMAL_SYSTOLIC, CROSSING_SYSTOLIC = 122, 190


def _table(model: type) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


@dataclass
class Monitor:
    """One bedside monitor: its device id, its session, when it crosses the alarm limit."""

    number: int
    device: str
    session_id: str
    crossing_second: int
    acks_ms: list[float] = field(default_factory=list)
    late_s: float = 0.0
    sent: int = 0
    refused: int = 0
    refusal: str = ""  # the first refusal's ACK, to show
    crossing_sent_at: float | None = None
    crossing_acked_at: float | None = None


def prepare(url: str, monitors: int, seconds: int, rng: random.Random) -> list[Monitor]:
    """The demo clinic, then one chair with a device id and an open session per monitor."""
    cli(url, "db", "upgrade")
    cli(url, "demo", "--patients", "4")
    engine = make_engine(url)
    now = datetime.now(UTC)
    stamp = {"created_at": now, "updated_at": now, "created_by": "bench"}
    with Session(engine) as db:
        site = db.execute(select(Site).where(Site.code == "HPC")).scalar_one()
        first_patient = (db.execute(select(Patient.pk).order_by(Patient.pk.desc())).scalars()
                         .first() or 0) + 1
        first_chair = (db.execute(select(Chair.pk).order_by(Chair.pk.desc())).scalars().first()
                       or 0) + 1
        first_evaluation = (db.execute(select(Evaluation.pk).order_by(Evaluation.pk.desc()))
                            .scalars().first() or 0) + 1
        first_course = (db.execute(select(Course.pk).order_by(Course.pk.desc())).scalars()
                        .first() or 0) + 1
        first_session = (db.execute(select(TreatmentSession.pk).order_by(
            TreatmentSession.pk.desc())).scalars().first() or 0) + 1
        site_pk = site.pk
    chairs, people, mrns, evaluations, courses, sessions, result = [], [], [], [], [], [], []
    for n in range(monitors):
        device = f"BENCH{n:05d}"
        patient_pk, chair_pk = first_patient + n, first_chair + n
        evaluation_pk, course_pk = first_evaluation + n, first_course + n
        session_id = uuid.uuid4()
        chairs.append({"pk": chair_pk, "id": uuid.uuid4(), "site_pk": site_pk,
                       "name": f"Bench chair {n}", "monitor_device_id": device})
        people.append({"pk": patient_pk, "id": uuid.uuid4(), "family_name": f"Monitor{n}",
                       "given_name": "Bench", "birth_date": date(1960 + n % 40, 1 + n % 12, 1),
                       "sex": "female" if n % 2 else "male", "search_name": f"monitor{n} bench"})
        mrns.append({"id": uuid.uuid4(), "patient_pk": patient_pk, "site_pk": site_pk,
                     "mrn": f"HPCB{n:06d}"})
        evaluations.append({"pk": evaluation_pk, "id": uuid.uuid4(), "patient_pk": patient_pk,
                            "route": "iv", "indication": "depression"})
        courses.append({"pk": course_pk, "id": uuid.uuid4(), "patient_pk": patient_pk,
                        "evaluation_pk": evaluation_pk, "route": "iv",
                        "indication": "depression"})
        sessions.append({"pk": first_session + n, "id": session_id, "patient_pk": patient_pk,
                         "course_pk": course_pk, "site_pk": site_pk, "chair_pk": chair_pk,
                         "route": "iv", "checked_in_at": now - timedelta(minutes=20),
                         "dose_start": now - timedelta(minutes=10)})
        result.append(Monitor(n, device, str(session_id), rng.randint(5, max(6, seconds - 5))))
    with engine.begin() as conn:
        insert_many(conn, _table(Chair), chairs, constants={
            **stamp, "active": True, "routes": ["iv", "esketamine", "im"]})
        insert_many(conn, _table(Patient), people, constants={
            **stamp, "phone": "", "email": "", "address": "", "emergency_contact_name": "",
            "emergency_contact_phone": "", "emergency_contact_relationship": "", "active": True})
        insert_many(conn, _table(PatientMrn), mrns, constants=stamp)
        insert_many(conn, _table(Evaluation), evaluations, constants={
            **stamp, "screened_on": now.date(), "decision": "eligible", "ruleset_version": "bench",
            "overrides": {}, "findings": [], "status": "signed", "signed_decision": "start",
            "signed_by": "bench", "signed_at": now, "caution_reasons": {}, "sign_note": ""})
        insert_many(conn, _table(Course), courses, constants={
            **stamp, "prescriber": "bench", "signed_at": now, "state": "induction"})
        insert_many(conn, _table(TreatmentSession), sessions, constants={
            **stamp, "status": "open", "checks": {}, "escort_present": False,
            "driving_warning_given": False})
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            for table in ("chair", "patient", "evaluation", "course", "treatment_session"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'pk'), "
                                     f"(SELECT max(pk) FROM {table}))")
            conn.commit()
    engine.dispose()
    return result


def message(monitor: Monitor, number: int, systolic: int) -> bytes:
    """One PCD-01 ORU^R01 of 5 OBX from the monitor, stamped now."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S.%f")[:-3] + "+0000"
    device = monitor.device
    obx = [("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", systolic, "266016^MDC_DIM_MMHG^MDC"),
           ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", 78, "266016^MDC_DIM_MMHG^MDC"),
           ("149530^MDC_PULS_OXIM_PULS_RATE^MDC", 71, "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
           ("150456^MDC_PULS_OXIM_SAT_O2^MDC", 98, "262688^MDC_DIM_PERCENT^MDC"),
           ("151562^MDC_RESP_RATE^MDC", 14, "264928^MDC_DIM_RESP_PER_MIN^MDC")]
    lines = [f"MSH|^~\\&|BenchGW^{device}|HPC|||{stamp}||ORU^R01^ORU_R01|"
             f"M{monitor.number:05d}N{number:06d}|P|2.6",
             f"OBR|1|||182777000^monitoring of patient^SNOMED-CT|||{stamp}"]
    lines += [f"OBX|{i}|NM|{code}|1.0.{i}|{value}|{unit}|||||R|||{stamp}||||{device}"
              for i, (code, value, unit) in enumerate(obx, start=1)]
    return frame("\r".join(lines) + "\r")


async def play(monitor: Monitor, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
               started: float, seconds: int) -> None:
    """Send once a second on schedule (each after the last ACK) until the run ends."""
    reader, writer = connection
    try:
        for second in range(seconds):
            due = started + second + monitor.number / 1000 % 1
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            crossing = second == monitor.crossing_second
            sent_at = time.perf_counter()
            monitor.late_s = max(0.0, sent_at - due)
            writer.write(message(monitor, second, CROSSING_SYSTOLIC if crossing else NORMAL_SYSTOLIC))
            await writer.drain()
            reply = await reader.readuntil(MLLP_END)
            acked_at = time.perf_counter()
            monitor.sent += 1
            monitor.acks_ms.append((acked_at - sent_at) * 1000)
            if b"MSA|AA" not in reply:
                monitor.refused += 1
                monitor.refusal = monitor.refusal or reply.decode(errors="replace")
            if crossing:
                monitor.crossing_sent_at, monitor.crossing_acked_at = sent_at, acked_at
    finally:
        writer.close()


async def watch_api(monitor: Monitor, base: str, token: str, deadline: float) -> float | None:
    """Seconds from the crossing reading's send to its alarm in the session's API state."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:
        while monitor.crossing_sent_at is None and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        while time.perf_counter() < deadline:
            state = (await api.get(f"{base}/api/v1/treatment-sessions/{monitor.session_id}")).json()
            if any(a["kind"] == "systolic-high" for a in state["alarms"]):
                assert monitor.crossing_sent_at is not None
                return time.perf_counter() - monitor.crossing_sent_at
            await asyncio.sleep(0.05)
    return None


async def watch_stream(monitor: Monitor, base: str, cookies: httpx.Cookies,
                       deadline: float) -> float | None:
    """Seconds from the crossing reading's send to the first 'changed' event on the session's
    live stream after that reading was acknowledged (the page then shows the alarm)."""
    async with httpx.AsyncClient(cookies=cookies, timeout=None) as web, web.stream(
            "GET", f"{base}/treatment-sessions/{monitor.session_id}/stream") as stream:
        async for line in stream.aiter_lines():
            now = time.perf_counter()
            if now > deadline:
                return None
            acked = monitor.crossing_acked_at
            if line.startswith("event: changed") and acked is not None and now >= acked:
                assert monitor.crossing_sent_at is not None
                return now - monitor.crossing_sent_at
    return None


def web_cookies(base: str) -> httpx.Cookies:
    """A nurse logged in through the login page (demo mode: no second factor)."""
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = client.post("/login", data={"username": "nurse", "password": DEMO_PASSWORD,
                                             "csrf_token": token, "next": ""})
        assert answer.status_code == 303, answer.text
        return client.cookies


async def run(monitors: list[Monitor], mllp_port: int, base: str, seconds: int,
              watched: int) -> tuple[list[float | None], list[float | None], float]:
    token = httpx.post(f"{base}/api/v1/auth/token", data={
        "username": "nurse", "password": DEMO_PASSWORD}).json()["access_token"]
    cookies = web_cookies(base)
    sample = monitors[:watched]
    # Every monitor connected before the schedule starts: connecting while the first messages
    # are due would send them late, together, instead of spread over the second.
    connections = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", mllp_port)
                                         for _ in monitors))
    started = time.perf_counter() + 1.0
    deadline = started + seconds + 10
    streams = [asyncio.create_task(watch_stream(m, base, cookies, deadline)) for m in sample]
    apis = [asyncio.create_task(watch_api(m, base, token, deadline)) for m in sample]
    await asyncio.gather(*(play(m, connection, started, seconds)
                           for m, connection in zip(monitors, connections, strict=True)))
    elapsed = time.perf_counter() - started
    api_latency = await asyncio.gather(*apis)
    for task in streams:
        if not task.done():
            await asyncio.wait([task], timeout=max(0.0, deadline - time.perf_counter()))
    stream_latency = [t.result() if t.done() and not t.exception() else None for t in streams]
    for task in streams:
        task.cancel()
    return list(api_latency), stream_latency, elapsed


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(url: str, monitors_count: int, seconds: int, watched: int) -> None:
    """Prepare, start the listener and the web server, play the monitors, report."""
    from request_path import _start, _stop  # the web server as the other benches run it

    monitors = prepare(url, monitors_count, seconds, random.Random(20261201))
    mllp_port, web_port = free_port(), free_port()
    env = {**os.environ, "KETACLINIC_DATABASE_URL": url, "KETACLINIC_DEMO": "1"}
    listener = subprocess.Popen([sys.executable, "-m", "ketaclinic.cli", "mllp", "--port",
                                 str(mllp_port)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    server = _start(url, web_port, 1)
    try:
        for _ in range(300):
            try:
                asyncio.run(asyncio.wait_for(asyncio.open_connection("127.0.0.1", mllp_port), 1))
                break
            except OSError:
                time.sleep(0.1)
        api_latency, stream_latency, elapsed = asyncio.run(run(
            monitors, mllp_port, f"http://127.0.0.1:{web_port}", seconds, watched))
    finally:
        _stop(server)
        listener.terminate()
        listener.wait()
    acks = [ms for m in monitors for ms in m.acks_ms]
    sent = sum(m.sent for m in monitors)
    refused = sum(m.refused for m in monitors)
    backlog = [m.late_s for m in monitors]
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"{backend}: {monitors_count} monitors x 1 message/s of {OBX_PER_MESSAGE} OBX for "
          f"{seconds} s; messages acknowledged {sent - refused}, refused {refused}")
    print(f"  readings a second: {(sent - refused) * OBX_PER_MESSAGE / elapsed:8.0f} "
          f"(goal {GOAL_READINGS_S})")
    print(f"  backlog at the end (last message behind its schedule): median "
          f"{statistics.median(backlog) * 1000:6.0f} ms, max {max(backlog) * 1000:6.0f} ms")
    print(f"  acknowledgement latency: p50 {_percentile(acks, 0.5):6.1f} ms, p99 "
          f"{_percentile(acks, 0.99):6.1f} ms, max {max(acks):6.1f} ms (goal p99 under "
          f"{GOAL_ACK_P99_MS} ms)")
    refusal = next((m.refusal for m in monitors if m.refusal), "")
    if refusal:
        print("  first refusal: " + refusal.strip("\x0b\x1c\r").replace("\r", " | ")[:300])
    for name, latencies in (("API", api_latency), ("live stream", stream_latency)):
        seen = [x for x in latencies if x is not None]
        if seen:
            print(f"  reading to alarm through the {name} ({len(seen)} of {len(latencies)} "
                  f"watched): p50 {_percentile(seen, 0.5):5.2f} s, p99 "
                  f"{_percentile(seen, 0.99):5.2f} s (goal p99 under {GOAL_ALARM_P99_S} s)")
        else:
            print(f"  reading to alarm through the {name}: none seen of {len(latencies)}")


def main() -> int:
    """Run on SQLite, and on PostgreSQL when given a server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=600)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--watched", type=int, default=20)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("KETACLINIC_DEMO", "1")
    os.environ["KETACLINIC_COOKIE_SECURE"] = "false"  # the login cookie over plain http here
    if args.monitors < 1 or args.seconds < 10 or not 0 <= args.watched <= args.monitors:
        print("error: --monitors at least 1, --seconds at least 10, --watched 0 to --monitors",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        if not args.no_sqlite:
            measure(fresh_database("sqlite", "", folder), args.monitors, args.seconds,
                    args.watched)
        if args.postgres:
            url = fresh_database("postgresql", args.postgres, folder)
            try:
                measure(url, args.monitors, args.seconds, args.watched)
            finally:
                drop_database(url, args.postgres)
    return 0


if __name__ == "__main__":
    sys.exit(main())

