"""Each course's outcome summary equals a recomputation from its raw measures after any sequence
of writes (backdated measures, ties, corrections, other instruments), the dashboard read from the
summaries equals the one windowed over the raw measures, and the migration back-fills them."""

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis.strategies as st
import time_machine
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from ketaclinic import clock, migrate
from ketaclinic.courses.models import Course
from ketaclinic.db import make_engine
from ketaclinic.demo import seed as demo_seed
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.outcomes import lines
from ketaclinic.measures import course_outcomes, outcomes
from ketaclinic.measures import service as measures
from ketaclinic.measures.models import CourseOutcome, Measure
from ketaclinic.patients.models import Patient
from tests.back_fill import kept_and_refilled
from tests.demo.moments import working_morning

PHASES = [p for p in Phase if p is not Phase.shrink or not os.environ.get("LEDGER_NO_SHRINK")]
COMPARED = ("site_pk", "instrument", "baseline", "baseline_at", "measures_after_baseline",
            "latest", "latest_at", "best", "best_at", "responding", "remitted",
            "first_response_at", "first_remission_at", "relapsed_at")
# Items and the most each item scores, per instrument the machine records.
ITEMS = {"phq9": (9, 3), "pcl5": (20, 4), "gad7": (7, 3)}
EVERYTHING = datetime(1990, 1, 1, tzinfo=UTC)


def answers(instrument: str, total: int) -> list[int]:
    count, top = ITEMS[instrument]
    return [min(top, max(0, total - top * i)) for i in range(count)]


def recomputed(db: Session, course: Course, instrument: str) -> dict[str, Any] | None:
    """The summary worked out plainly from every measure the course has."""
    found = db.execute(select(Measure).where(Measure.course_pk == course.pk)).scalars().all()
    series = sorted((m for m in found if m.status == "final" and m.instrument == instrument
                     and m.total is not None), key=lambda m: (m.taken_at, m.pk))
    if not series:
        return None
    first = series[0]
    line = lines(instrument, first.total or 0)
    responded = [first.total > 0 and m.total <= line.response_at_or_below for m in series]
    remitted = [line.remission_at_or_below is not None and m.total <= line.remission_at_or_below
                for m in series]
    lowest = min(m.total for m in series)
    best = next(m for m in series if m.total == lowest)
    first_response = next((m.taken_at for m, r in zip(series, responded, strict=True) if r), None)
    relapse = [m.taken_at for m, r in zip(series, responded, strict=True)
               if first_response is not None and m.taken_at > first_response and not r]
    return {
        "site_pk": first.site_pk, "instrument": instrument, "baseline": first.total,
        "baseline_at": first.taken_at,
        "measures_after_baseline": len([m for m in series if m.taken_at > first.taken_at]),
        "latest": series[-1].total, "latest_at": series[-1].taken_at, "best": best.total,
        "best_at": best.taken_at, "responding": responded[-1], "remitted": remitted[-1],
        "first_response_at": first_response,
        "first_remission_at": next((m.taken_at for m, r in zip(series, remitted, strict=True)
                                    if r), None),
        "relapsed_at": min(relapse, default=None)}


def stored(db: Session, course: Course) -> dict[str, Any] | None:
    row = db.get(CourseOutcome, course.pk, populate_existing=True)
    return None if row is None else {k: getattr(row, k) for k in COMPARED}


def start_course(api, db: Session, pid: str, indication: str) -> Course:
    evaluation = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations", json={
        "route": "iv", "indication": indication}).json()
    signed = api["prescriber"].post(f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign",
                                    json={"decision": "start"})
    assert signed.status_code == 200, signed.text
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    return db.execute(select(Course).where(Course.patient_pk == patient.pk)
                      .order_by(Course.pk.desc())).scalars().first()


def test_random_writes_keep_each_summary_equal_to_its_measures(api, world, db: Session) -> None:
    depression = start_course(api, db, world.patients["p_a1"], "depression")
    ptsd = start_course(api, db, world.patients["p_a2"], "ptsd")
    courses = {"phq9": depression, "pcl5": ptsd}
    people = {k: db.get(Patient, c.patient_pk) for k, c in courses.items()}
    site_pks = frozenset(pk for p in people.values() for pk in p.site_pks)
    nurse = Actor(username="nurse_a", role="nurse", site_pks=site_pks)
    now = clock.now().replace(microsecond=0)

    class Courses(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.written: list[Measure] = []

        @rule(instrument=st.sampled_from(["phq9", "pcl5"]), data=st.data(),
              # Few distinct moments, so ties with the baseline and with each other happen.
              days_ago=st.integers(0, 40), hour=st.sampled_from([0, 9]))
        def record(self, instrument: str, data: st.DataObject, days_ago: int, hour: int) -> None:
            count, top = ITEMS[instrument]
            total = data.draw(st.integers(0, count * top))
            measure, _ = measures.record(
                db=db, patient=people[instrument], instrument=instrument,
                answers=answers(instrument, total), source="staff", actor=nurse,
                taken_at=now - timedelta(days=days_ago, hours=hour))
            self.written.append(measure)

        @rule(days_ago=st.integers(0, 40), total=st.integers(0, 21))
        def record_another_instrument(self, days_ago: int, total: int) -> None:
            measures.record(db=db, patient=people["phq9"], instrument="gad7",
                            answers=answers("gad7", total), source="staff", actor=nurse,
                            taken_at=now - timedelta(days=days_ago))

        @precondition(lambda self: any(m.status == "final" for m in self.written))
        @rule(data=st.data())
        def correct(self, data: st.DataObject) -> None:
            # A correction as any path makes it: the row stays, its status changes.
            measure = data.draw(st.sampled_from([m for m in self.written if m.status == "final"]))
            measure.status, measure.error_reason = "entered-in-error", "wrong patient"
            db.flush()

        @invariant()
        def summaries_equal_their_measures(self) -> None:
            for instrument, course in courses.items():
                assert stored(db, course) == recomputed(db, course, instrument)

        @invariant()
        def the_summary_dashboard_equals_the_windowed_one(self) -> None:
            assert outcomes.compute(db=db, site_pks=site_pks) == outcomes.compute(
                db=db, site_pks=site_pks, since=EVERYTHING)

    Courses.TestCase.settings = settings(max_examples=20, stateful_step_count=15, deadline=None,
                                         phases=PHASES, suppress_health_check=list(HealthCheck))
    Courses.TestCase().runTest()


def test_summaries_written_with_other_rules_are_recomputed_before_the_dashboard_reads_them(
        api, world, db: Session) -> None:
    course = start_course(api, db, world.patients["p_a1"], "depression")
    patient = db.get(Patient, course.patient_pk)
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset(patient.site_pks))
    for days_ago, total in ((20, 20), (10, 8)):
        measures.record(db=db, patient=patient, instrument="phq9", answers=answers("phq9", total),
                        source="staff", actor=nurse, taken_at=clock.now() - timedelta(days_ago))
    row = db.get(CourseOutcome, course.pk)
    assert row is not None and row.responding
    row.rules, row.responding = "older-rules", False  # as if the response line had moved
    db.flush()
    [result] = outcomes.compute(db=db, site_pks=frozenset(patient.site_pks))
    assert result.response.count == 1
    assert db.get(CourseOutcome, course.pk, populate_existing=True).rules == (
        course_outcomes.rules_fingerprint())


def test_the_migration_back_fills_every_course_from_its_measures(empty_database: str) -> None:
    engine = make_engine(empty_database)
    migrate.upgrade(engine)
    with Session(engine) as db, time_machine.travel(working_morning(), tick=False):
        demo_seed.seed(db, patients_count=8)
        db.commit()
    def summaries(db: Session) -> dict[int, dict[str, object]]:
        return {r.course_pk: {k: getattr(r, k) for k in COMPARED}
                for r in db.execute(select(CourseOutcome)).scalars()}

    kept, filled = kept_and_refilled(engine, "0023", summaries)
    engine.dispose()
    assert len(kept) >= 3  # the demo's course histories
    assert filled == kept


def test_two_writers_of_one_course_wait_for_each_other_without_deadlock(
        seeded_postgres: Engine) -> None:
    # Both measures are inserted (each holding its foreign key's lock on the course) before
    # either writer locks the course for its summary: the order a loaded server produced.
    import threading

    from sqlalchemy import event

    engine = seeded_postgres
    with Session(engine) as db:
        course = db.execute(select(Course).where(Course.indication == "depression")
                            .order_by(Course.pk)).scalars().first()
        assert course is not None
        patient_pk = course.patient_pk
    both_inserted = threading.Barrier(2, timeout=10)

    def wait_for_the_other(session: Session, _context: Any) -> None:
        if any(isinstance(o, Measure) for o in session.new):
            both_inserted.wait()

    event.listen(Session, "after_flush", wait_for_the_other, insert=True)
    failures: list[BaseException] = []

    def write(total: int) -> None:
        try:
            with Session(engine) as db:
                db.execute(text("SET LOCAL lock_timeout = '5s'"))
                patient = db.get(Patient, patient_pk)
                measures.record(db=db, patient=patient, instrument="phq9",
                                answers=answers("phq9", total), source="test",
                                actor=Actor(username="nurse_a", role="nurse"))
                db.commit()
        except BaseException as exc:
            failures.append(exc)

    try:
        writers = [threading.Thread(target=write, args=(total,)) for total in (12, 6)]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(30)
    finally:
        event.remove(Session, "after_flush", wait_for_the_other)
    assert failures == []
    with Session(engine) as db:
        summary = stored(db, db.get(Course, course.pk))
        assert summary == recomputed(db, db.get(Course, course.pk), "phq9")
    engine.dispose()
