"""A session's baseline and its newest readings are read from the end of the readings' index, never
by sorting the session's readings: so whatever plan the database makes and keeps (one made while
the table was small, say), a batch's session read costs the same at the session's first reading
and at its thousandth."""

import uuid
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.sql import ClauseElement

from ketaclinic.treatments import service as treatments


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
