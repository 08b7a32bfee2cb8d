"""Benchmark: FHIR reads, searches and creates under a real load generator (wrk), with the same
server's liveness route beside them, in the same run, on SQLite (one server process) and
PostgreSQL (`serve --workers 2`).

    python bench/fhir_crud.py [--seconds 10] [--rounds 3] [--each] [--past-sessions 10]
                              [--postgres postgresql://postgres@127.0.0.1:5432/test]

Reads and searches: 16 connections cycling through a Patient read, an Observation read, an
Observation search (`_count=50`) and a Patient search by family name, for a demo patient with
vital signs and a treatment history (`--past-sessions`, 10 by default: weekly sessions of 48
monitor readings every 5 minutes and 3 MOAA/S and CADSS scores, so a search's first page runs
on from the chart into the sessions, as a clinic's patients' do). Creates: 16 connections
posting vital-sign Observations. Each figure is the median of interleaved rounds. `--each`
also drives each of the four reads and searches alone in every round, so the slowest, which
sets the cycle's rate, shows. Goals on PostgreSQL with two workers: 1,000 reads and searches a
second, 200 creates a second. wrk comes from Debian's packages (`apt-get install wrk`).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
from request_path import _prepare, _start, _stop, _token, wrk
from scratch import drop_database, free_port, fresh_database
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.db import make_engine
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import SessionEvent, TreatmentSession

READ_GOAL, CREATE_GOAL = 1000, 200

CYCLE = """
paths = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
"""

POST = """
wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/fhir+json"
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for this ASCII text


READS = ("Patient read", "Observation read", "Observation search (_count=50)",
         "Patient search by family")


def _scripts(folder: str, base: str, token: str, patient_id: str
             ) -> tuple[str, str, list[str]]:
    headers = {"Authorization": f"Bearer {token}"}
    patient = httpx.get(f"{base}/fhir/Patient/{patient_id}", headers=headers).json()
    observation = httpx.get(f"{base}/fhir/Observation", headers=headers, params={
        "patient": patient_id, "_count": "1"}).json()["entry"][0]["resource"]
    paths = [f"/fhir/Patient/{patient_id}", f"/fhir/Observation/{observation['id']}",
             f"/fhir/Observation?patient={patient_id}&_count=50",
             f"/fhir/Patient?family={patient['name'][0]['family']}"]
    for path in paths:
        assert httpx.get(base + path, headers=headers).status_code == 200, path
    reads = Path(folder, "reads.lua")
    reads.write_text(CYCLE % ", ".join(_lua_string(p) for p in paths))
    body = {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": datetime.now(UTC).isoformat(timespec="seconds"),
            "valueQuantity": {"value": 72, "unit": "/min",
                              "system": "http://unitsofmeasure.org", "code": "/min"}}
    created = httpx.post(f"{base}/fhir/Observation", headers=headers, json=body)
    assert created.status_code == 201, created.text
    creates = Path(folder, "creates.lua")
    creates.write_text(POST % _lua_string(json.dumps(body)))
    return str(reads), str(creates), paths


def _give_history(url: str, session_id: str, sessions: int) -> None:
    """Give the patient of this open session `sessions` earlier ones, a week apart, each with 48
    monitor readings 5 minutes apart and three scores."""
    engine = make_engine(url)
    with Session(engine) as db:
        today = db.execute(select(TreatmentSession).where(
            TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
        copied = {c.key: getattr(today, c.key) for c in TreatmentSession.__mapper__.column_attrs
                  if c.key not in ("pk", "id", "created_at", "updated_at")}
        nurse = Actor(username="nurse", role="nurse", site_pks=frozenset({today.site_pk}))
        for week in range(1, sessions + 1):
            earlier = TreatmentSession(**{**copied, "status": "discharged",
                                          "checked_in_at": today.checked_in_at
                                          - timedelta(weeks=week)})
            db.add(earlier)
            db.flush()
            start = earlier.checked_in_at
            treatments.store_readings(
                db=db, treatment_session=earlier, chair_pk=earlier.chair_pk, source="monitor",
                actor=nurse, readings=[Reading(start + timedelta(minutes=5 * i),
                                               systolic_mmhg=118.0 + i % 7, diastolic_mmhg=76.0,
                                               heart_rate_bpm=70.0, spo2_pct=98.0)
                                       for i in range(48)])
            db.add_all(SessionEvent(session_pk=earlier.pk, kind=kind, value=value,
                                    at=start + timedelta(minutes=minute))
                       for minute, kind, value in ((10, "moass", 4.0), (20, "cadss", 10.0),
                                                   (30, "moass", 5.0)))
        db.commit()
    engine.dispose()


def measure(url: str, workers: int, seconds: float, rounds: int, folder: str,
            each: bool = False, past_sessions: int = 10) -> None:
    """Prepare a demo clinic, serve it, and run the interleaved rounds."""
    clinic = _prepare(url)
    _give_history(url, clinic.session_id, past_sessions)
    port = free_port()
    server = _start(url, port, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        token = _token(base)
        reads_lua, creates_lua, paths = _scripts(folder, base, token, clinic.patient_id)
        wrk(f"{base}/livez", None, min(2.0, seconds), 16)  # warm up
        wrk(base, token, min(2.0, seconds), 16, reads_lua)
        figures: dict[str, list[float]] = {name: [] for name in (
            "reads", "creates", "livez", *(READS if each else ()))}
        bad = 0
        for _ in range(rounds):
            for name, script, auth in (("reads", reads_lua, token), ("creates", creates_lua, token),
                                       ("livez", None, None)):
                target = f"{base}/livez" if name == "livez" else (
                    f"{base}/fhir/Observation" if name == "creates" else base)
                rate, failed = wrk(target, auth, seconds, 16, script)
                figures[name].append(rate)
                bad += failed
            for name, path in zip(READS, paths, strict=True) if each else ():
                rate, failed = wrk(base + path, token, seconds, 16)
                figures[name].append(rate)
                bad += failed
    finally:
        _stop(server)
    reads, creates, hello = (statistics.median(figures[k]) for k in ("reads", "creates", "livez"))
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"{backend} ({workers} worker{'s' if workers > 1 else ''}), 16 connections, median of "
          f"{rounds} interleaved {seconds:g} s rounds; the patient has {past_sessions} past "
          f"sessions; non-2xx: {bad}")
    print(f"  reads and searches {reads:7.0f} req/s (goal {READ_GOAL}), ratio to /livez "
          f"{reads / hello:.2f}")
    print(f"  creates            {creates:7.0f} req/s (goal {CREATE_GOAL})")
    print(f"  /livez             {hello:7.0f} req/s")
    for name in READS if each else ():
        print(f"  alone: {name:31s} {statistics.median(figures[name]):7.0f} req/s")


def main() -> int:
    """Run on SQLite, and on PostgreSQL when given a server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--each", action="store_true",
                        help="also drive each read and search alone")
    parser.add_argument("--past-sessions", type=int, default=10,
                        help="earlier treatment sessions the patient has had")
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    if args.seconds <= 0 or args.rounds <= 0:
        print("error: --seconds and --rounds must be positive", file=sys.stderr)
        return 2
    if args.past_sessions < 0:
        print("error: --past-sessions must be 0 or more", file=sys.stderr)
        return 2
    os.environ.setdefault("KETACLINIC_DEMO", "1")
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        measure(fresh_database("sqlite", "", folder), 1, args.seconds, args.rounds, folder,
                args.each, args.past_sessions)
        if args.postgres:
            url = fresh_database("postgresql", args.postgres, folder)
            try:
                measure(url, 2, args.seconds, args.rounds, folder, args.each,
                        args.past_sessions)
            finally:
                drop_database(url, args.postgres)
    return 0


if __name__ == "__main__":
    sys.exit(main())
