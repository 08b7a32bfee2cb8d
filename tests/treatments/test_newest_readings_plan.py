"""A session's baseline and its newest readings are read from the end of the readings' index, never
by sorting the session's readings: so whatever plan the database makes and keeps (one made while
the table was small, say), a batch's session read costs the same at the session's first reading
and at its thousandth."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from ketaclinic import clock
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.monitoring import WATCHED_SIGNS
from ketaclinic.treatments import schemas
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import TreatmentSession
from tests.treatments.test_ingest import open_session


def _inline(engine: Engine, statement: ClauseElement, values: dict[str, Any]) -> str:
    bound = statement.params(**values)  # type: ignore[attr-defined]
    return str(bound.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _plan_steps(engine: Engine, sql: str) -> list[str]:
    """Each step of the plan the database makes for the statement (node types on PostgreSQL,
    the query plan's lines on SQLite)."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            plan = connection.execute(text("EXPLAIN (FORMAT JSON) " + sql)).scalar_one()
            steps: list[str] = []
            nodes = [plan[0]["Plan"]]
            while nodes:
                node = nodes.pop()
                steps.append(node["Node Type"])
                nodes.extend(node.get("Plans", []))
            return steps
        return [row[-1] for row in connection.execute(text("EXPLAIN QUERY PLAN " + sql))]


def _sorts(steps: list[str]) -> list[str]:
    return [step for step in steps if "Sort" in step or "TEMP B-TREE" in step]


def test_a_batch_reads_its_sessions_baseline_without_sorting_its_readings(
        migrated_engine: Engine) -> None:
    sql = _inline(migrated_engine, treatments._SESSION_WITH_ALARM_STATE,
                  {"public_id": uuid.uuid4()})
    steps = _plan_steps(migrated_engine, sql)
    assert steps and not _sorts(steps), steps


def test_the_newest_readings_are_read_without_sorting_the_session(migrated_engine: Engine
                                                                  ) -> None:
    sql = _inline(migrated_engine, treatments._NEWEST_READINGS.limit(50), {"session_pk": 1})
    steps = _plan_steps(migrated_engine, sql)
    assert steps and not _sorts(steps), steps


# Readings of the session before the batches: some hours of a monitor's.
ROWS = 20_000


def _plans_of(db: Session, marker: str) -> tuple[int, int]:
    """(generic, custom) plans PostgreSQL made for the prepared statement holding the marker on
    this session's connection."""
    generic, custom = db.execute(text(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE statement LIKE :marker"), {"marker": f"%{marker}%"}).one()
    return generic, custom


def test_a_batchs_session_statement_is_planned_once_not_at_every_batch(
        api, world, db: Session) -> None:
    """PostgreSQL plans a prepared statement for its values until its plan for any values looks
    as cheap. A bound LIMIT is priced at a tenth of the rows, so the baseline's `LIMIT 1` bound
    made the batch's session statement (five tables, two subqueries) be planned again at every
    batch: 0.6 ms of the database's time, five times what running it takes."""
    if world.backend != "postgresql":
        pytest.skip("PostgreSQL's plans of prepared statements")
    session_id = open_session(api, db, world.patients["p_a1"])
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
    start = clock.now() - timedelta(hours=2)
    # a session of some hours' readings, as the statistics know them (the planner prices its
    # choices by them): written straight into the table, as only their number matters here
    db.execute(text(
        "INSERT INTO session_reading (id, taken_at, systolic_mmhg, diastolic_mmhg, created_at, "
        "updated_at, created_by, session_pk, chair_pk, source, device, status) "
        "SELECT gen_random_uuid(), :start + make_interval(secs => n / 10.0), 120, 75, :start, "
        ":start, 'test', :session_pk, :chair_pk, 'api', '', 'final' "
        "FROM generate_series(1, :rows) AS n"),
        {"start": start, "session_pk": session.pk, "chair_pk": session.chair_pk, "rows": ROWS})
    db.execute(text("ANALYZE session_reading"))
    for i in range(15):
        treatments.add_readings(db=db, treatment_session_id=session_id, actor=nurse,
                                data=schemas.ReadingsIn(readings=[schemas.ReadingIn(
                                    taken_at=start + timedelta(hours=1, seconds=i),
                                    systolic_mmhg=120, diastolic_mmhg=75)]))
    generic, custom = _plans_of(db, "open_kinds")
    # psycopg prepares it after five runs; the server plans the first five of the other ten for
    # their values, then keeps one plan
    assert (generic, custom) == (5, 5)


def test_a_chairs_last_discharge_is_read_from_the_index_end_not_from_its_sessions(
        migrated_engine: Engine) -> None:
    # The monitor feed asks for it with every group of messages; a chair holds thousands of
    # sessions over the years. Read through the index on (chair, discharge), max() is its end.
    sql = _inline(migrated_engine, select(treatments.LAST_DISCHARGE.label("ended"))
                  .select_from(TreatmentSession).where(TreatmentSession.pk == 1), {})
    explain = ("EXPLAIN " if migrated_engine.dialect.name == "postgresql"
               else "EXPLAIN QUERY PLAN ")
    with migrated_engine.connect() as connection:
        plan = " ".join(str(row[-1]) for row in connection.execute(text(explain + sql)))
    assert "ix_treatment_session_chair_discharged" in plan, plan


def test_each_sign_s_newest_readings_are_read_without_sorting_the_session(
        migrated_engine: Engine) -> None:
    sql = _inline(migrated_engine, treatments._newest_two_of_each(WATCHED_SIGNS),
                  {"session_pk": 1, "since": clock.now()})
    steps = _plan_steps(migrated_engine, sql)
    assert steps and not _sorts(steps), steps
