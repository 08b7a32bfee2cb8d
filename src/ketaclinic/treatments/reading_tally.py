"""Each treatment session's reading tally (how many of its readings hold each vital sign, when
the first and last were taken), kept current in the transaction of every write of its readings.

A session's readings are only ever added: a batch, a monitor message, or unmatched readings a
nurse attaches; none is removed, moved to another session or changed. So a batch adds its counts
to its session's row (an upsert that adds, atomic on both back ends; rows in key order, so two
writers of the same sessions wait rather than deadlock), and an attachment, which is rare,
recounts its session from the rows.
"""

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Table, case, delete, func, insert, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite

from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.treatments.models import SessionReading, SessionReadingTally

TALLY = cast(Table, SessionReadingTally.__table__)
# Each tallied vital sign and the reading fields any one of which holds it.
TALLIED: dict[str, tuple[str, ...]] = {
    "blood_pressure": ("systolic_mmhg", "diastolic_mmhg"),
    "heart_rate": ("heart_rate_bpm",),
    "respiratory_rate": ("respiratory_rate_per_min",),
    "spo2": ("spo2_pct",),
    "temperature": ("temperature_c",),
}


def tallies_of(readings_by_session: Iterable[tuple[int, Sequence[Reading]]]
               ) -> list[dict[str, Any]]:
    """The tally rows of these sessions' new readings, in key order (a session with none is left
    out)."""
    merged: dict[int, list[Reading]] = {}
    for session_pk, readings in readings_by_session:
        merged.setdefault(session_pk, []).extend(readings)
    rows = []
    for session_pk in sorted(merged):
        readings = merged[session_pk]
        if not readings:
            continue
        taken = [r.taken for r in readings]
        rows.append({"session_pk": session_pk, "readings": len(readings),
                     **{name: sum(1 for r in readings
                                  if any(getattr(r, f) is not None for f in fields))
                        for name, fields in TALLIED.items()},
                     "first_at": min(taken), "last_at": max(taken)})
    return rows


def add(connection: Connection, readings_by_session: Iterable[tuple[int, Sequence[Reading]]]
        ) -> None:
    """Add new readings (session key, its readings) to their sessions' tallies."""
    rows = tallies_of(readings_by_session)
    if rows:
        connection.execute(_adding(connection.dialect.name), rows)


@cache
def _adding(dialect: str) -> Any:
    """The upsert that adds a tally row to the stored one (built once per back end)."""
    statement = (postgresql.insert(TALLY) if dialect == "postgresql" else sqlite.insert(TALLY))
    new, kept = statement.excluded, TALLY.c
    return statement.on_conflict_do_update(index_elements=[kept.session_pk], set_={
        **{name: kept[name] + new[name] for name in ("readings", *TALLIED)},
        "first_at": case((new.first_at < kept.first_at, new.first_at), else_=kept.first_at),
        "last_at": case((new.last_at > kept.last_at, new.last_at), else_=kept.last_at)})


def counted(which: Any) -> Any:
    """SQL: the tally rows of the sessions whose readings meet a condition, counted from those
    readings."""
    reading = SessionReading
    return (select(reading.session_pk, func.count().label("readings"),
                   *[func.count(case((or_(*[getattr(reading, f).is_not(None) for f in fields]),
                                      1))).label(name) for name, fields in TALLIED.items()],
                   func.min(reading.taken_at).label("first_at"),
                   func.max(reading.taken_at).label("last_at"))
            .where(which).group_by(reading.session_pk))


def recount(connection: Connection, session_pks: Sequence[int]) -> None:
    """Count these sessions' tallies again from their readings (after an attachment)."""
    if session_pks:
        _replace(connection, TALLY, TALLY.c.session_pk.in_(session_pks),
                 SessionReading.session_pk.in_(sorted(session_pks)))


def rebuild(connection: Connection, table: Table = TALLY) -> None:
    """Every session's tally counted from its readings (the migration that adds the table)."""
    _replace(connection, table, true(), SessionReading.session_pk.is_not(None))


def _replace(connection: Connection, table: Table, rows: Any, readings: Any) -> None:
    connection.execute(delete(table).where(rows))
    counts = counted(readings)
    connection.execute(insert(table).from_select([c.name for c in counts.selected_columns],
                                                 counts))
