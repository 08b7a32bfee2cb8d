"""Benchmark: the chart of a patient with a long history against one with a short one, in the
same run: the chart page (HTML), the JSON vitals list, a FHIR read of one Observation and FHIR
searches (`_count=50`, in the list's order and newest first) for a patient with 5,000 sets of
vital signs and for one with 50, served through the app. The goal is a ratio under 1.5: the
work of a page is bounded by the page, not by the patient's history. The second page newest
first is fetched by the first page's next link (which names where it starts); each patient's
last Observation page, in the list's order and newest first, is shown too, asked for by
`_offset` alone (for the long one, 400 pages deep).

    python bench/chart.py [--long 5000] [--short 50] [--sessions 60] [--few-sessions 2]
                          [--session-readings 2400] [--brief-session 40] [--rounds 7]
                          [--postgres postgresql://postgres@127.0.0.1:5432/test]

Both patients' readings span the same two years (so the trend chart shows the last 90 days of
each); rows go in through the driver's executemany. Each round times every request once per
patient, interleaved; the figure is the median of the rounds.

A second pair has the shape a treated patient's record takes: one patient with 60 treatment
sessions, fortnightly, each with 2,400 monitor readings (40 minutes at one a second) and 8
MOAA/S and CADSS scores, against one with 2 such sessions (`--sessions`, `--few-sessions`,
`--session-readings`); their chart page and Observation, Encounter and MedicationAdministration
searches are timed alike. A third pair times the chair-side page of one such session (its live
part, which the page fetches again at every new reading, and the session as JSON) against one of
40 readings (`--brief-session`): a monitor's session must cost about what a nurse's does.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from scratch import drop_database, fresh_database
from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session

from ketaclinic import migrate
from ketaclinic.auth import service as auth
from ketaclinic.clinics import service as clinics
from ketaclinic.clinics.models import Chair
from ketaclinic.courses.models import Course
from ketaclinic.db import insert_many, make_engine, set_engine
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import vitals_tally
from ketaclinic.patients.models import Patient, PatientMrn, VitalSigns
from ketaclinic.treatments import reading_tally
from ketaclinic.treatments.models import (
    GivenDose,
    SessionEvent,
    SessionReading,
    TreatmentSession,
)

PASSWORD = "bench-password-1"
SPAN = timedelta(days=730)
GOAL = 1.5
# Shown beside the goals, not held to one: the long patient's last page is 400 pages deep (the
# database counts the rows before it; only the page is built).
UNGOALED = {label: "the last page; no goal" for label in (
    "FHIR search, last page", "FHIR search, newest first, last page")}


def _table(model: type) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def _generate(engine: Engine, sizes: dict[str, int], histories: dict[str, int],
              per_session: int, brief: int) -> dict[str, str]:
    """A site, a nurse, one patient per size with that many vital-sign sets, one per history
    with that many treatment sessions, and one ("brief") with one session of `brief` monitor
    readings; their ids."""
    system = Actor(username="bench", role="system")
    with Session(engine) as db:
        site = clinics.create_site(db=db, code="BEN", name="Bench site", address="",
                                   time_zone="America/New_York", chairs=2,
                                   network_name="Bench", actor=system)
        auth.create_user(db=db, username="nurse", display_name="Nurse", role="nurse",
                         password=PASSWORD, site_codes=["BEN"], actor=system)
        db.commit()
        site_pk = site.pk
    now = datetime.now(UTC)
    stamp = {"created_at": now, "updated_at": now, "created_by": "bench"}
    names = [*sizes, *histories, "brief"]
    ids = {name: uuid.uuid4() for name in names}
    people = [{"pk": pk, "id": ids[name], "family_name": f"Bench{name.title()}",
               "given_name": "Pat", "birth_date": date(1970, 1, 1), "sex": "female",
               "search_name": f"bench{name} pat"} for pk, name in enumerate(names, start=1)]
    mrns = [{"id": uuid.uuid4(), "patient_pk": pk, "site_pk": site_pk, "mrn": f"BEN{pk:05d}"}
            for pk in range(1, len(names) + 1)]
    readings: list[dict[str, Any]] = []
    for pk, count in enumerate(sizes.values(), start=1):
        for i in range(count):
            readings.append({
                "id": uuid.uuid4(), "patient_pk": pk,
                "measured_at": now - SPAN + SPAN * (i + 1) / count,
                "systolic_mmhg": 110.0 + (i * 7) % 40, "diastolic_mmhg": 70.0 + i % 15,
                "heart_rate_bpm": 60.0 + (i * 3) % 30, "spo2_pct": 97.0,
                "weight_kg": 70.0 + (i % 50) / 10})
    with engine.begin() as conn:
        insert_many(conn, _table(Patient), people, constants={
            **stamp, "phone": "", "email": "", "address": "", "emergency_contact_name": "",
            "emergency_contact_phone": "", "emergency_contact_relationship": "", "active": True})
        insert_many(conn, _table(PatientMrn), mrns, constants=stamp)
        insert_many(conn, _table(VitalSigns), readings, constants={
            **stamp, "status": "final", "respiratory_rate_per_min": None, "temperature_c": None,
            "height_cm": None, "error_reason": None, "error_marked_by": None,
            "error_marked_at": None})
        vitals_tally.rebuild(conn)  # the rows went in around the ORM, which tallies its own
    for pk, name in enumerate(histories, start=len(sizes) + 1):
        _treat(engine, site_pk, pk, histories[name], per_session, now)
    _treat(engine, site_pk, len(names), 1, brief, now)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    return {name: str(patient_id) for name, patient_id in ids.items()}


def _treat(engine: Engine, site_pk: int, patient_pk: int, sessions: int, per_session: int,
           now: datetime) -> None:
    """A signed course for the patient and that many past sessions, a fortnight apart, each with
    monitor readings at one a second and eight scores; the sessions' tallies counted after."""
    with Session(engine) as db:
        chair_pk = db.execute(select(Chair.pk).where(Chair.site_pk == site_pk)).scalars().first()
        evaluation = Evaluation(patient_pk=patient_pk, route="iv", indication="depression",
                                screened_on=(now - SPAN).date(), decision="eligible",
                                ruleset_version="bench", status="signed",
                                signed_decision="start", signed_by="bench",
                                signed_at=now - SPAN)
        db.add(evaluation)
        db.flush()
        course = Course(patient_pk=patient_pk, evaluation_pk=evaluation.pk, route="iv",
                        indication="depression", prescriber="bench", signed_at=now - SPAN)
        db.add(course)
        db.flush()
        visits = []
        for number in range(sessions):
            start = now - timedelta(days=14 * (sessions - number))
            visit = TreatmentSession(
                patient_pk=patient_pk, course_pk=course.pk, site_pk=site_pk, chair_pk=chair_pk,
                route="iv", status="discharged", checked_in_at=start,
                dose_start=start + timedelta(minutes=10), dose_end=start + timedelta(minutes=50),
                dose_given=GivenDose(dose_mg=35.0, route="iv", lot_number=f"B{number:04d}"),
                discharged_at=start + timedelta(minutes=120))
            db.add(visit)
            visits.append(visit)
        db.flush()
        starts = {visit.pk: visit.checked_in_at for visit in visits}
        db.commit()
    stamp = {"created_at": now, "updated_at": now, "created_by": "bench"}
    with engine.begin() as conn:
        for session_pk, start in starts.items():
            insert_many(conn, _table(SessionReading), [{
                "id": uuid.uuid4(), "session_pk": session_pk,
                "taken_at": start + timedelta(seconds=i), "systolic_mmhg": 118.0 + i % 12,
                "diastolic_mmhg": 78.0, "heart_rate_bpm": 70.0 + i % 9, "spo2_pct": 98.0,
                "respiratory_rate_per_min": 14.0} for i in range(per_session)], constants={
                **stamp, "chair_pk": chair_pk, "source": "monitor", "device": "bench",
                "message_pk": None, "status": "final", "temperature_c": None})
            insert_many(conn, _table(SessionEvent), [{
                "id": uuid.uuid4(), "session_pk": session_pk, "kind": ("moass", "cadss")[i % 2],
                "value": (4.0, 9.0)[i % 2], "at": start + timedelta(minutes=5 * i)}
                for i in range(8)], constants={**stamp, "code": "", "note": ""})
        reading_tally.rebuild(conn)


def measure(url: str, sizes: dict[str, int], histories: dict[str, int], per_session: int,
            brief: int, rounds: int) -> dict[str, float]:
    """Generate, then time each request for each patient; the ratios long/short, the
    treatment-history pair's and the session pair's labelled as such."""
    from fastapi.testclient import TestClient

    from ketaclinic.app import create_app

    engine = make_engine(url)
    migrate.upgrade(engine)
    ids = _generate(engine, sizes, histories, per_session, brief)
    set_engine(engine)
    web, api = TestClient(create_app()), TestClient(create_app())
    page = web.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    web.post("/login", data={"username": "nurse", "password": PASSWORD,
                             "csrf_token": csrf.group(1), "next": ""})
    token = api.post("/api/v1/auth/token", data={"username": "nurse", "password": PASSWORD})
    api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    charted = {name: ids[name] for name in sizes}
    newest = {pid: api.get(f"/api/v1/patients/{pid}/vitals", params={"limit": 1}).json()[0]
              for pid in charted.values()}
    last_page = {pid: max(0, api.get("/fhir/Observation", params={
        "patient": pid, "_summary": "count"}).json()["total"] - 50) for pid in charted.values()}

    def search(**params: str) -> Any:
        return lambda pid: api.get("/fhir/Observation", params={"patient": pid, **params})

    def next_link(pid: str) -> str:
        first = search(_count="50", _sort="-date")(pid).json()
        found = [link["url"] for link in first["link"] if link["relation"] == "next"]
        return found[0][found[0].index("/fhir/"):] if found else ""

    second = {pid: next_link(pid) for pid in ids.values()}
    halfway = {pid: api.get("/fhir/Observation", params={
        "patient": pid, "_summary": "count"}).json()["total"] // 2 for pid in ids.values()}

    chart = {
        "chart page (HTML)": lambda pid: web.get(f"/patients/{pid}"),
        "vitals list (JSON)": lambda pid: api.get(f"/api/v1/patients/{pid}/vitals"),
        "FHIR read": lambda pid: api.get(f"/fhir/Observation/{newest[pid]['id']}-bp"),
        "FHIR search": search(_count="50"),
        "FHIR search, newest first": search(_count="50", _sort="-date"),
        "FHIR search, newest first, its next link": lambda pid: api.get(second[pid]),
        "FHIR search, last page": lambda pid: search(_count="50", _offset=str(
            last_page[pid]))(pid),
        "FHIR search, newest first, last page": lambda pid: search(
            _count="50", _sort="-date", _offset=str(last_page[pid]))(pid),
        "FHIR Encounter search": lambda pid: api.get("/fhir/Encounter", params={"patient": pid}),
    }
    treated = {
        "chart page (HTML)": chart["chart page (HTML)"],
        "FHIR search": search(_count="50"),
        "FHIR search, newest first": search(_count="50", _sort="-date"),
        "FHIR search, newest first, its next link": lambda pid: api.get(second[pid]),
        "FHIR search, heart rate": search(_count="50", code="http://loinc.org|8867-4"),
        "FHIR search, newest first, halfway down by _offset": lambda pid: search(
            _count="50", _sort="-date", _offset=str(halfway[pid]))(pid),
        "FHIR search, scores newest first": search(_count="50", category="survey",
                                                  _sort="-date"),
        "FHIR Encounter search, 10 a page": lambda pid: api.get("/fhir/Encounter", params={
            "patient": pid, "_count": "10"}),
        "FHIR MedicationAdministration search, 10 a page": lambda pid: api.get(
            "/fhir/MedicationAdministration", params={"patient": pid, "_count": "10"}),
    }
    chart_times = _timed(chart, charted, rounds)
    history_times = _timed(treated, {name: ids[name] for name in histories}, rounds)
    at_the_chair = {
        "session page (HTML)": lambda sid: web.get(f"/treatment-sessions/{sid}"),
        "session page, its live part (HTML)": lambda sid: web.get(
            f"/treatment-sessions/{sid}/live"),
        "session (JSON)": lambda sid: api.get(f"/api/v1/treatment-sessions/{sid}"),
    }
    session_times = _timed(at_the_chair, {name: _newest_session(engine, ids[name])
                                          for name in ("brief", "few")}, rounds)
    engine.dispose()
    print(f"{engine.dialect.name}: median of {rounds} interleaved rounds")
    ratios = _report(f"patients with {sizes['short']} and {sizes['long']} vital-sign sets",
                     chart_times, sizes)
    history = _report(f"patients with {histories['few']} and {histories['many']} treatment "
                      f"sessions of {per_session} monitor readings", history_times, histories)
    session = _report(f"one session of {brief} and one of {per_session} monitor readings",
                      session_times, {"brief": brief, "few": per_session})
    return {**ratios, **{f"history: {label}": ratio for label, ratio in history.items()},
            **{f"session: {label}": ratio for label, ratio in session.items()}}


def _newest_session(engine: Engine, patient_id: str) -> str:
    """The id of the patient's latest treatment session."""
    with Session(engine) as db:
        return str(db.execute(select(TreatmentSession.id).join(
            Patient, Patient.pk == TreatmentSession.patient_pk)
            .where(Patient.id == uuid.UUID(patient_id))
            .order_by(TreatmentSession.checked_in_at.desc()).limit(1)).scalar_one())


def _timed(requests: dict[str, Any], ids: dict[str, str], rounds: int
           ) -> dict[tuple[str, str], list[float]]:
    """Each request's times for each patient, rounds interleaved (the first warms up)."""
    times: dict[tuple[str, str], list[float]] = {}
    for round_number in range(rounds + 1):
        for label, request in requests.items():
            for name, pid in ids.items():
                started = time.perf_counter()
                response = request(pid)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.text[:300]
                if round_number:
                    times.setdefault((label, name), []).append(elapsed)
    return times


def _report(title: str, times: dict[tuple[str, str], list[float]], sizes: dict[str, int]
            ) -> dict[str, float]:
    """Print each request's medians for the two patients and their ratio."""
    print(f"  {title}")
    short, long = list(sizes)
    ratios = {}
    for label in dict.fromkeys(label for label, _ in times):
        fast = statistics.median(times[(label, short)])
        slow = statistics.median(times[(label, long)])
        ratios[label] = slow / fast
        goal = UNGOALED.get(label, f"goal under {GOAL}")
        print(f"    {label:50} {sizes[short]:>6}: {fast * 1000:7.1f} ms   {sizes[long]:>6}: "
              f"{slow * 1000:7.1f} ms   ratio {slow / fast:.2f} ({goal})")
    return ratios


def main() -> int:
    """Run on SQLite, and on PostgreSQL when given a server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", type=int, default=5000)
    parser.add_argument("--short", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--few-sessions", type=int, default=2)
    parser.add_argument("--session-readings", type=int, default=2400)
    parser.add_argument("--brief-session", type=int, default=40,
                        help="monitor readings of the session timed against a full one")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("KETACLINIC_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    if not 1 <= args.short <= args.long or args.rounds < 1:
        print("error: need 1 <= --short <= --long and --rounds at least 1", file=sys.stderr)
        return 2
    if not (1 <= args.few_sessions <= args.sessions
            and 1 <= args.brief_session <= args.session_readings):
        print("error: need 1 <= --few-sessions <= --sessions and "
              "1 <= --brief-session <= --session-readings", file=sys.stderr)
        return 2
    os.environ.setdefault("KETACLINIC_DEMO", "1")  # the demo's key seals the audit rows
    os.environ.setdefault("KETACLINIC_SECRET_KEY", "bench-" + uuid.uuid4().hex)
    os.environ["KETACLINIC_COOKIE_SECURE"] = "false"  # the test client speaks plain HTTP
    sizes = {"short": args.short, "long": args.long}
    histories = {"few": args.few_sessions, "many": args.sessions}
    shape = (sizes, histories, args.session_readings, args.brief_session, args.rounds)
    with tempfile.TemporaryDirectory() as folder:
        measure(fresh_database("sqlite", "", folder), *shape)
        if args.postgres:
            url = fresh_database("postgresql", args.postgres, folder)
            try:
                measure(url, *shape)
            finally:
                drop_database(url, args.postgres)
    return 0


if __name__ == "__main__":
    sys.exit(main())
