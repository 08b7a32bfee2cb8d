"""Each patient's chart vital-signs tally equals a count of their rows after any sequence of
writes (rows a flush adds, chart entries through the API, FHIR Observation creates); writers of
one patient add to their parts without waiting for each other; the migration back-fills it."""

import uuid
from datetime import timedelta
from typing import Any

import hypothesis.strategies as st
import time_machine
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from ketaclinic import clock, migrate
from ketaclinic.db import make_engine
from ketaclinic.demo import seed as demo_seed
from ketaclinic.fhir import observations
from ketaclinic.patients import vitals_tally
from ketaclinic.patients.models import Patient, VitalSigns, VitalSignsTally
from tests.back_fill import kept_and_refilled
from tests.demo.moments import working_morning

VALUES = {"systolic_mmhg": 120.0, "diastolic_mmhg": 80.0, "heart_rate_bpm": 70.0,
          "respiratory_rate_per_min": 14.0, "spo2_pct": 98.0, "temperature_c": 36.8,
          "weight_kg": 72.0, "height_cm": 170.0}
FHIR_CODES = {"heart_rate_bpm": ("8867-4", "/min"), "respiratory_rate_per_min": ("9279-1", "/min"),
              "spo2_pct": ("2708-6", "%"), "temperature_c": ("8310-5", "Cel"),
              "weight_kg": ("29463-7", "kg"), "height_cm": ("8302-2", "cm")}
COLUMNS = ("sets", *vitals_tally.TALLIED)


def counted_plainly(db: Session) -> dict[int, dict[str, int]]:
    """Every patient's tally worked out from their rows, one by one."""
    found: dict[int, list[VitalSigns]] = {}
    for row in db.execute(select(VitalSigns)).scalars():
        found.setdefault(row.patient_pk, []).append(row)
    return {pk: {"sets": len(rows),
                 **{name: sum(any(getattr(r, f) is not None for f in fields) for r in rows)
                    for name, fields in vitals_tally.TALLIED.items()}}
            for pk, rows in found.items()}


def stored(db: Session) -> dict[int, dict[str, int]]:
    """Every patient's tally: their parts summed."""
    tally = VitalSignsTally
    rows = db.execute(select(tally.patient_pk, *[func.sum(getattr(tally, c)) for c in COLUMNS])
                      .group_by(tally.patient_pk)).all()
    return {pk: dict(zip(COLUMNS, map(int, sums), strict=True)) for pk, *sums in rows}


def parts(db: Session, patient_pk: int) -> int:
    return int(db.execute(select(func.count()).select_from(VitalSignsTally)
                          .where(VitalSignsTally.patient_pk == patient_pk)).scalar_one())


fields_strategy = st.frozensets(st.sampled_from(tuple(VALUES)), min_size=1)


def test_every_vital_sign_observation_has_its_tally_column() -> None:
    assert set(observations._CHART_TALLIED) == {g.suffix for g in observations.GROUPS}


def test_random_writes_keep_each_patients_tally_equal_to_their_rows(api, world,
                                                                     db: Session) -> None:
    ids = [world.patients[key] for key in ("p_a1", "p_a2")]
    chart = [db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
             for pid in ids]
    nurse = api["nurse_a"]

    class Tallies(RuleBasedStateMachine):
        @rule(drawn=st.lists(st.tuples(st.integers(0, 1), fields_strategy), min_size=1,
                             max_size=5))
        def rows_in_one_flush(self, drawn: list[tuple[int, frozenset[str]]]) -> None:
            for which, fields in drawn:
                db.add(VitalSigns(patient_pk=chart[which].pk, created_by="nurse_a",
                                  measured_at=clock.now() - timedelta(minutes=len(fields)),
                                  **{f: VALUES[f] for f in fields}))
            db.flush()

        @rule(which=st.integers(0, 1), fields=fields_strategy)
        def a_chart_entry(self, which: int, fields: frozenset[str]) -> None:
            answer = nurse.post(f"/api/v1/patients/{ids[which]}/vitals",
                                json={f: VALUES[f] for f in fields})
            assert answer.status_code == 201, answer.text

        @rule(which=st.integers(0, 1), field=st.sampled_from(tuple(FHIR_CODES)))
        def a_fhir_create(self, which: int, field: str) -> None:
            code, unit = FHIR_CODES[field]
            answer = nurse.post("/fhir/Observation", json={
                "resourceType": "Observation", "status": "final",
                "category": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": {"reference": f"Patient/{ids[which]}"},
                "effectiveDateTime": clock.now().isoformat(timespec="seconds"),
                "valueQuantity": {"value": VALUES[field], "unit": unit,
                                  "system": "http://unitsofmeasure.org", "code": unit}})
            assert answer.status_code == 201, answer.text

        @invariant()
        def tallies_equal_their_rows(self) -> None:
            db.flush()
            assert stored(db) == counted_plainly(db)
            assert all(parts(db, p.pk) <= 1 for p in chart)  # one writer at a time: one part

    Tallies.TestCase.settings = settings(max_examples=10, stateful_step_count=8, deadline=None,
                                         suppress_health_check=list(HealthCheck))
    Tallies.TestCase().runTest()


def test_a_fhir_search_counts_a_long_chart_from_its_tally(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    for minutes in range(30):
        db.add(VitalSigns(patient_pk=patient.pk, created_by="nurse_a", heart_rate_bpm=70.0,
                          measured_at=clock.now() - timedelta(minutes=minutes),
                          **({"systolic_mmhg": 120.0} if minutes % 2 else {})))
    db.flush()
    search = {"patient": pid, "category": "vital-signs", "_summary": "count"}

    def total(**more: str) -> int:
        answer = api["nurse_a"].get("/fhir/Observation", params={**search, **more})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["total"])

    chart_rows = sum(observations_of(row) for row in db.execute(
        select(VitalSigns).where(VitalSigns.patient_pk == patient.pk)).scalars())
    everything = total()
    assert chart_rows >= 45 and everything >= chart_rows  # and the sessions' chair readings
    assert total(date="ge2000-01-01") == everything  # a date bound counts the rows themselves
    # without a date the chart's part comes from the tally: a tally gone counts none of it
    db.execute(VitalSignsTally.__table__.delete().where(
        VitalSignsTally.patient_pk == patient.pk))
    assert total() == everything - chart_rows
    vitals_tally.rebuild(db.connection())
    assert total() == everything


def test_the_vital_signs_list_totals_a_long_chart_from_its_tally(api, world, db: Session
                                                                   ) -> None:
    pid = world.patients["p_a1"]
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    for minutes in range(12):
        db.add(VitalSigns(patient_pk=patient.pk, created_by="nurse_a", heart_rate_bpm=70.0,
                          measured_at=clock.now() - timedelta(minutes=minutes)))
    db.flush()

    def total() -> int:
        answer = api["nurse_a"].get(f"/api/v1/patients/{pid}/vitals", params={"limit": 5})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()) == 5
        return int(answer.headers["X-Total-Count"])

    rows = db.execute(select(func.count()).select_from(VitalSigns).where(
        VitalSigns.patient_pk == patient.pk)).scalar_one()
    assert rows >= 12 and total() == rows
    db.execute(VitalSignsTally.__table__.delete().where(  # the total is the tally's, not a count
        VitalSignsTally.patient_pk == patient.pk))
    assert total() == 0
    vitals_tally.rebuild(db.connection())
    assert total() == rows


def observations_of(row: VitalSigns) -> int:
    """How many Observations one chart row is: one a vital sign it holds."""
    return sum(any(getattr(row, f) is not None for f in fields)
               for fields in vitals_tally.TALLIED.values())


def test_writers_of_one_patient_add_without_waiting_and_count_once(
        seeded_postgres: Engine) -> None:
    engine = seeded_postgres
    with Session(engine) as db:
        patient_pk = db.execute(select(Patient.pk).order_by(Patient.pk).limit(1)).scalar_one()

    def write(db: Session, **values: Any) -> None:
        db.execute(text("SET LOCAL lock_timeout = '2s'"))  # a wait would fail, not hang
        db.add(VitalSigns(patient_pk=patient_pk, created_by="nurse",
                          measured_at=clock.now(), **values))
        db.flush()

    def in_flight_at_once(writers: int) -> None:
        sessions = [Session(engine) for _ in range(writers)]
        try:
            for db in sessions:  # each in flight, holding the part it added to
                write(db, heart_rate_bpm=70.0, spo2_pct=97.0)
            for db in sessions:
                db.commit()
        finally:
            for db in sessions:
                db.close()

    in_flight_at_once(2)
    with Session(engine) as db:
        assert stored(db) == counted_plainly(db)
        assert parts(db, patient_pk) == 2  # the second writer found the one part held
    for _ in range(3):  # one at a time: added in place to a free part, no part more
        with Session(engine) as db:
            write(db, systolic_mmhg=120.0, diastolic_mmhg=80.0)
            db.commit()
    in_flight_at_once(2)  # two in flight find a free part each
    with Session(engine) as db:
        assert stored(db) == counted_plainly(db)
        assert parts(db, patient_pk) == 2
    in_flight_at_once(3)  # a third at once: every part held, a part of its own
    with Session(engine) as db:
        assert stored(db) == counted_plainly(db)
        assert parts(db, patient_pk) == 3
    engine.dispose()


def test_the_migration_back_fills_every_patient_from_their_rows(empty_database: str) -> None:
    engine = make_engine(empty_database)
    migrate.upgrade(engine)
    with Session(engine) as db, time_machine.travel(working_morning(), tick=False):
        demo_seed.seed(db, patients_count=6)
        db.commit()
    kept, filled = kept_and_refilled(engine, "0028", stored)
    with Session(engine) as db:  # the rows themselves are as the writes left them
        assert kept == counted_plainly(db) and len(kept) >= 3
    engine.dispose()
    assert filled == kept
