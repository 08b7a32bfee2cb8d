"""Benchmark: the clinic outcomes dashboard on a generated network, against the single SQL
aggregate over the same rows, measured in the same run on SQLite and (with --postgres) PostgreSQL.

    python bench/outcomes.py [--patients 10000] [--measures-per-course 10] [--rounds 5]
                             [--postgres postgresql://postgres@127.0.0.1:5432/test]

The network has two sites; each patient has one course (IV or esketamine, depression or PTSD)
with a baseline and later measures of the course's primary instrument following one of several
trajectories (responder, non-responder, late responder, relapse), three dosed sessions and side
effects in about a fifth of them. Rows go in through the driver's executemany and the courses'
summaries are then back-filled as the migration does; each figure is the median of interleaved
rounds. The dashboard without a range reads the summaries; with a range it windows the
measures in the range; both are checked equal to the windowed computation over all time.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import psycopg
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.orm import Session

from ketaclinic import migrate
from ketaclinic.clinics.models import Chair, Network, Site
from ketaclinic.courses.models import Course
from ketaclinic.db import insert_many, make_engine
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.knowledge.instruments import instrument
from ketaclinic.measures import course_outcomes, outcomes
from ketaclinic.measures.models import Measure
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import SessionEvent, TreatmentSession

TRAJECTORIES = {
    "responder": (1.0, 0.45),  # (fraction of baseline at mid-course, at the end)
    "non-responder": (0.9, 0.85),
    "late responder": (0.75, 0.45),
    "relapse": (0.45, 0.8),
}


def _table(model: type) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def _generate(engine: Engine, patients: int, per_course: int, seed: int = 20261127) -> int:
    """Write the network; returns the number of measures."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    stamp = {"created_at": now, "updated_at": now, "created_by": "bench"}
    with Session(engine) as db:
        network = Network(name="Bench network", created_by="bench")
        sites = [Site(network=network, code=f"S{i}", name=f"Site {i}", time_zone="America/New_York",
                      created_by="bench", chairs=[Chair(name="C1", created_by="bench")])
                 for i in range(2)]
        db.add_all(sites)
        db.commit()
        site_chairs = [(s.pk, s.chairs[0].pk) for s in sites]
    people, evaluations, courses, measures, sessions, events = [], [], [], [], [], []
    measure_pk = session_pk = 0
    for pk in range(1, patients + 1):
        site_pk, chair_pk = site_chairs[pk % 2]
        people.append({"pk": pk, "id": uuid.uuid4(), "family_name": f"Bench{pk}",
                       "given_name": "Pat", "birth_date": date(1950 + pk % 50, 1 + pk % 12, 1),
                       "sex": "female" if pk % 2 else "male", "search_name": f"bench{pk} pat"})
        route = "iv" if pk % 3 else "esketamine"
        indication = "ptsd" if route == "iv" and pk % 7 == 0 else "depression"
        evaluation_id = uuid.uuid4()
        evaluations.append({"pk": pk, "id": evaluation_id, "patient_pk": pk, "route": route,
                            "indication": indication})
        courses.append({"pk": pk, "id": evaluation_id, "patient_pk": pk, "evaluation_pk": pk,
                        "route": route, "indication": indication})
        key = "pcl5" if indication == "ptsd" else "phq9"
        top = instrument(key).max
        baseline = rng.randint(top // 2, top - 2)
        mid, end = TRAJECTORIES[rng.choice(list(TRAJECTORIES))]
        start = now - timedelta(days=rng.randint(60, 700))
        for n in range(per_course):
            share = n / (per_course - 1)
            fraction = 1 + (mid - 1) * share * 2 if share <= 0.5 else mid + (end - mid) * (share - 0.5) * 2
            total = max(0, min(top, round(baseline * fraction + rng.randint(-2, 2))))
            measure_pk += 1
            measures.append({"pk": measure_pk, "id": uuid.uuid4(), "patient_pk": pk,
                             "site_pk": site_pk, "course_pk": pk, "instrument": key,
                             "total": total, "taken_at": start + timedelta(days=4 * n)})
        for n in range(3):
            session_pk += 1
            dose = start + timedelta(days=4 * n + 1, hours=2)
            sessions.append({"pk": session_pk, "id": uuid.uuid4(), "patient_pk": pk,
                             "course_pk": pk, "site_pk": site_pk, "chair_pk": chair_pk,
                             "route": route, "checked_in_at": dose, "dose_start": dose})
            if rng.random() < 0.2:
                events.append({"id": uuid.uuid4(), "session_pk": session_pk,
                               "kind": "side-effect", "code": "nausea", "at": dose})
    with engine.begin() as conn:
        insert_many(conn, _table(Patient), people, constants={
            **stamp, "phone": "", "email": "", "address": "", "emergency_contact_name": "",
            "emergency_contact_phone": "", "emergency_contact_relationship": "", "active": True})
        insert_many(conn, _table(Evaluation), evaluations, constants={
            **stamp, "screened_on": now.date(), "decision": "eligible", "ruleset_version": "bench",
            "overrides": {}, "findings": [], "status": "signed", "signed_decision": "start",
            "signed_by": "bench", "signed_at": now, "caution_reasons": {}, "sign_note": ""})
        insert_many(conn, _table(Course), courses, constants={
            **stamp, "prescriber": "bench", "signed_at": now, "state": "induction"})
        insert_many(conn, _table(Measure), measures, constants={
            **stamp, "band": None, "risk_level": None, "source": "api", "occasion": "ad-hoc",
            "status": "final"})
        insert_many(conn, _table(TreatmentSession), sessions, constants={
            **stamp, "status": "discharged", "checks": {}, "escort_present": True,
            "driving_warning_given": True})
        insert_many(conn, _table(SessionEvent), events, constants={**stamp, "note": ""})
        # Rows written through the driver skip the per-write upkeep; the migration's back-fill
        # builds the courses' summaries, timed here.
        started = time.perf_counter()
        course_outcomes.rebuild(conn)
        print(f"  back-fill of {patients} course summaries: "
              f"{(time.perf_counter() - started) * 1000:8.1f} ms")
    # A running database keeps planner statistics up to date (autovacuum); a bulk load has none yet.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    return len(measures)


def _interleaved(runs: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """The median time of each run over interleaved rounds (one of each per round)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(spent) for name, spent in times.items()}


def measure(url: str, patients: int, per_course: int, rounds: int) -> None:
    """Generate, then time the dashboard and the baseline aggregate."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    rows = _generate(engine, patients, per_course)
    with Session(engine) as db:
        site_pks = set(db.execute(select(Site.pk)).scalars())
        single = (select(Course.route, Course.indication, func.count(), func.avg(Measure.total))
                  .join(Course, Course.pk == Measure.course_pk)
                  .where(Measure.status == "final", Measure.site_pk.in_(site_pks))
                  .group_by(Course.route, Course.indication))
        latest = db.execute(select(func.max(Measure.taken_at))).scalar_one()
        since = latest - timedelta(days=365)
        timed = _interleaved({
            "aggregate": lambda: db.execute(single).all(),
            "dashboard": lambda: outcomes.compute(db=db, site_pks=site_pks),
            "last year": lambda: outcomes.compute(db=db, site_pks=site_pks, since=since),
        }, rounds)
        result = outcomes.compute(db=db, site_pks=site_pks)
        groups = db.execute(single).all()
        windowed = outcomes.compute(db=db, site_pks=site_pks, since=datetime(1990, 1, 1, tzinfo=UTC))
    engine.dispose()
    counted = sum(r.courses for r in result)
    assert counted == patients, f"the dashboard counted {counted} courses of {patients}"
    assert len(groups) == len(result)
    assert windowed == result, "the summaries and the windowed raw measures disagree"
    baseline = timed["aggregate"]
    print(f"{engine.dialect.name}: {patients} patients, {rows} measures, {len(result)} "
          f"route/indication rows; median of {rounds} interleaved rounds")
    print(f"  single SQL aggregate (count, mean per route and indication): {baseline * 1000:8.1f} ms")
    print(f"  outcomes dashboard (response, remission, CIs, time to response, durability, "
          f"side effects): {timed['dashboard'] * 1000:8.1f} ms  ratio "
          f"{timed['dashboard'] / baseline:.2f}")
    print(f"  the dashboard over the last year (measures in the range windowed beside the "
          f"summaries): {timed['last year'] * 1000:8.1f} ms  ratio "
          f"{timed['last year'] / baseline:.2f}")
    for r in result:
        print(f"    {r.route:10s} {r.indication:10s} courses {r.courses:5d}  "
              f"response {r.response.pct:5.1f} % {r.response.interval}  "
              f"remission {r.remission.pct if r.remission else 'n/a'} %  "
              f"side effects {r.side_effects.pct} %")


def main() -> int:
    """Run on SQLite, and on PostgreSQL when given a server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--measures-per-course", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("KETACLINIC_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    os.environ.setdefault("KETACLINIC_DEMO", "1")  # the demo's key seals the audit rows written here
    if args.patients < 1 or args.measures_per_course < 2 or args.rounds < 1:
        print("error: --patients and --rounds must be at least 1, --measures-per-course at least 2",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        measure(f"sqlite:///{folder}/outcomes.db", args.patients, args.measures_per_course, args.rounds)
    if args.postgres:
        name = f"ketaclinic_bench_{uuid.uuid4().hex[:8]}"
        admin = args.postgres.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
            measure(url, args.patients, args.measures_per_course, args.rounds)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
