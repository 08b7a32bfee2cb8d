"""Benchmark: the front desk's week view (and day view) of a site with 10 chairs and 2,000
appointments, served through the app, against the bare query the view needs, in the same run.

    python bench/week_view.py [--chairs 10] [--appointments 2000]
                              [--postgres postgresql://postgres@127.0.0.1:5432/test]

The appointments fill the chairs Monday to Friday, four IV infusions a chair a day, week after
week, for 400 patients; the view shown is a full week in the middle. Rows go in through the
driver's executemany; each timing is the best of five.
"""

import argparse
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session

from ketaclinic import migrate
from ketaclinic.auth import service as auth
from ketaclinic.clinics import service as clinics
from ketaclinic.db import insert_many, make_engine, set_engine
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.availability import ACTIVE
from ketaclinic.scheduling.models import Appointment

ZONE = ZoneInfo("America/New_York")
FIRST_MONDAY = date(2027, 1, 4)
STARTS = (8, 10, 12, 14)  # four 130-minute infusions a chair a day
PATIENTS = 400
PASSWORD = "bench-password-1"


def _table(model: type) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def _generate(engine: Engine, chairs: int, appointments: int) -> tuple[int, date]:
    """The site, a front-desk login and the appointments; returns (site pk, the week shown)."""
    system = Actor(username="bench", role="system")
    with Session(engine) as db:
        site = clinics.create_site(db=db, code="BEN", name="Bench site", address="",
                                   time_zone=str(ZONE), chairs=chairs, network_name="Bench",
                                   actor=system)
        auth.create_user(db=db, username="desk", display_name="Desk", role="front_desk",
                         password=PASSWORD, site_codes=["BEN"], actor=system)
        db.commit()
        site_pk, chair_pks = site.pk, [c.pk for c in site.chairs]
    now = datetime.now(UTC)
    stamp = {"created_at": now, "updated_at": now, "created_by": "bench"}
    people = [{"pk": pk, "id": uuid.uuid4(), "family_name": f"Bench{pk}", "given_name": "Pat",
               "birth_date": date(1960 + pk % 40, 1 + pk % 12, 1), "sex": "female",
               "search_name": f"bench{pk} pat"} for pk in range(1, PATIENTS + 1)]
    rows: list[dict[str, Any]] = []
    day = FIRST_MONDAY
    while len(rows) < appointments:
        if day.weekday() < 5:
            for hour in STARTS:
                for chair_pk in chair_pks:
                    if len(rows) == appointments:
                        break
                    start = datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)
                    rows.append({"id": uuid.uuid4(), "site_pk": site_pk,
                                 "patient_pk": 1 + len(rows) % PATIENTS, "kind": "iv",
                                 "chair_pk": chair_pk, "starts_at": start,
                                 "ends_at": start + timedelta(minutes=130)})
        day += timedelta(days=1)
    with engine.begin() as conn:
        insert_many(conn, _table(Patient), people, constants={
            **stamp, "phone": "", "email": "", "address": "", "emergency_contact_name": "",
            "emergency_contact_phone": "", "emergency_contact_relationship": "", "active": True})
        insert_many(conn, _table(Appointment), rows, constants={
            **stamp, "status": "booked", "note": "", "cancel_reason": "", "late_cancel": False})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    weeks = (day - FIRST_MONDAY).days // 7
    return site_pk, FIRST_MONDAY + timedelta(days=7 * (weeks // 2))


def _best(run: Callable[[], Any], times: int = 5) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(times):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure(url: str, chairs: int, appointments: int) -> None:
    """Generate, then time the pages and the bare query."""
    from fastapi.testclient import TestClient

    from ketaclinic.app import create_app

    engine = make_engine(url)
    migrate.upgrade(engine)
    site_pk, week = _generate(engine, chairs, appointments)
    set_engine(engine)
    client = TestClient(create_app())
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    client.post("/login", data={"username": "desk", "password": PASSWORD,
                                "csrf_token": token.group(1), "next": ""})
    with Session(engine) as db:
        begin = datetime(week.year, week.month, week.day, tzinfo=ZONE)
        bare = (select(Appointment, Patient).join(Patient, Patient.pk == Appointment.patient_pk)
                .where(Appointment.site_pk == site_pk, Appointment.status.in_(ACTIVE),
                       Appointment.starts_at >= begin,
                       Appointment.starts_at < begin + timedelta(days=7)))
        baseline, rows = _best(lambda: db.execute(bare).all())
    week_time, response = _best(lambda: client.get(f"/schedule/week?site=BEN&start={week}"))
    assert response.status_code == 200, response.text[:500]
    shown = response.text.count('class="appt-line')
    assert shown == len(rows), f"the week view shows {shown} of {len(rows)} appointments"
    day_time, day = _best(lambda: client.get(f"/schedule?site=BEN&day={week}"))
    assert day.status_code == 200
    engine.dispose()
    print(f"{engine.dialect.name}: {chairs} chairs, {appointments} appointments; "
          f"week of {week}: {len(rows)} appointments")
    print(f"  bare query (the week's appointments with their patients): "
          f"{baseline * 1000:8.2f} ms")
    print(f"  week view page (query, conflicts, HTML, over HTTP): {week_time * 1000:8.2f} ms"
          f"  ratio {week_time / baseline:.1f}")
    print(f"  day view page: {day_time * 1000:8.2f} ms  ratio {day_time / baseline:.1f}")


def main() -> int:
    """Run on SQLite, and on PostgreSQL when given a server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chairs", type=int, default=10)
    parser.add_argument("--appointments", type=int, default=2000)
    parser.add_argument("--postgres", default=os.environ.get("KETACLINIC_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    os.environ.setdefault("KETACLINIC_DEMO", "1")  # the demo's key seals the audit rows written here
    if not 1 <= args.chairs <= 100 or args.appointments < 1:
        print("error: --chairs must be 1 to 100 and --appointments at least 1", file=sys.stderr)
        return 2
    os.environ.setdefault("KETACLINIC_SECRET_KEY", "bench-" + uuid.uuid4().hex)
    os.environ["KETACLINIC_COOKIE_SECURE"] = "false"  # the test client speaks plain HTTP
    with tempfile.TemporaryDirectory() as folder:
        measure(f"sqlite:///{folder}/week.db", args.chairs, args.appointments)
    if args.postgres:
        name = f"ketaclinic_bench_{uuid.uuid4().hex[:8]}"
        admin = args.postgres.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            measure(args.postgres.rsplit("/", 1)[0] + f"/{name}", args.chairs, args.appointments)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
