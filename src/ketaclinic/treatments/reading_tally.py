"""Each treatment session's reading tally (how many of its readings hold each vital sign, when
the first and last were taken), kept current in the transaction of every write of its readings.

A session's readings are only ever added: a batch, a monitor message, or unmatched readings a
nurse attaches; none is removed, moved to another session or changed. So a write adds its
readings' counts to its session's tally, the tally is the sum of its parts, and a session has
at most as many parts as writers were ever in flight for it at once (a monitor's gateway posts
a batch every few seconds all session long, and the listener writes a session's message in
every group it commits: a part a write would be thousands a session, each counted by every
search of the patient's Observations). On PostgreSQL a write takes one of the session's parts
that no other transaction in flight holds (`FOR UPDATE SKIP LOCKED`) and adds its counts to it
in place, or writes them as a new part when every part is held: writers of the same session
never wait for each other. It does so in the readings' own insert statement
(`insert_tallied`), the counts taken from the rows the insert returns. SQLite has one writer at
a time: its counts go into the session's one part in place. When the session closes its parts
are folded into one, their sum (`fold`); an attachment, which is rare, recounts its session from
the rows (`recount`).
"""

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    case,
    column,
    delete,
    func,
    insert,
    select,
    table,
    true,
    update,
)
from sqlalchemy.dialects import postgresql

from ketaclinic.array_inserts import insert_arrays
from ketaclinic.db import UTCDateTime, insert_columns
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.patients import vitals_tally
from ketaclinic.treatments.models import SessionReading, SessionReadingTally

TALLY = cast(Table, SessionReadingTally.__table__)
READINGS = cast(Table, SessionReading.__table__)
# Each tallied vital sign and the reading fields any one of which holds it: the chart's vital
# signs that a chair reading takes (not weight or height).
TALLIED: dict[str, tuple[str, ...]] = {
    name: fields for name, fields in vitals_tally.TALLIED.items()
    if all(hasattr(SessionReading, f) for f in fields)}


def tallies_of(readings_by_session: Iterable[tuple[int, Sequence[Reading]]]
               ) -> list[dict[str, Any]]:
    """The tally parts these new readings make: one a session that has any."""
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
                     **{name: _holding(readings, fields) for name, fields in TALLIED.items()},
                     "first_at": min(taken), "last_at": max(taken)})
    return rows


def _holding(readings: Sequence[Reading], fields: tuple[str, ...]) -> int:
    """How many readings hold any of these fields, counted a column at a time (a reading lacks
    the sign when every one of them is None)."""
    columns = [[getattr(r, f) for r in readings] for f in fields]
    return len(readings) - list(zip(*columns, strict=True)).count((None,) * len(fields))


def add(connection: Connection, readings_by_session: Iterable[tuple[int, Sequence[Reading]]]
        ) -> None:
    """Add new readings (session key, its readings) to their sessions' tallies: SQLite, whose
    one writer at a time adds to a session's one part in place (PostgreSQL adds them in the
    readings' insert, `insert_tallied`)."""
    for part in tallies_of(readings_by_session):
        added = {f"added_{name}": value for name, value in part.items()}
        if not connection.execute(_ADDING_IN_PLACE, added).rowcount:
            connection.execute(insert(TALLY), part)


# What adding a part sums; its first and last times take the earlier and the later.
_SUMMED = ("readings", *TALLIED)
# SQLite: the new counts added to one part of the session (none yet: the insert makes it); a
# session may hold several, written before parts were added to in place.
_ADDING_IN_PLACE = (
    update(TALLY).where(TALLY.c.pk == select(func.min(TALLY.c.pk)).where(
        TALLY.c.session_pk == bindparam("added_session_pk")).scalar_subquery())
    .values({**{name: TALLY.c[name] + bindparam(f"added_{name}") for name in _SUMMED},
             "first_at": func.min(TALLY.c.first_at,
                                  bindparam("added_first_at", type_=UTCDateTime())),
             "last_at": func.max(TALLY.c.last_at,
                                 bindparam("added_last_at", type_=UTCDateTime()))}))


def insert_tallied(connection: Connection, columns: Mapping[str, Sequence[Any]],
                   constants: dict[str, Any],
                   readings_by_session: Iterable[tuple[int, Sequence[Reading]]]) -> None:
    """Insert session readings given column by column (as `db.insert_columns` takes them) and
    add them to their sessions' tallies (`readings_by_session`, as `add` takes them): on
    PostgreSQL in one statement, the parts counted from the rows the insert stored; elsewhere
    the insert, then the parts."""
    if not columns or not next(iter(columns.values())):
        return
    if connection.dialect.name == "postgresql":
        insert_arrays(connection, READINGS, columns, returning=_STORED_COLUMNS,
                      constants=constants, feeding=_adding_parts)
        return
    insert_columns(connection, READINGS, columns, constants)
    add(connection, readings_by_session)


# What the tally counts of a stored reading, as its insert returns them for `_adding_parts`.
_STORED_COLUMNS = ("session_pk", "taken_at", *dict.fromkeys(
    field for fields in TALLIED.values() for field in fields))
_STORED = "stored_readings"


@cache
def _adding_parts(insert_readings: str) -> str:
    """PostgreSQL: a statement that runs `insert_readings` (returning `_STORED_COLUMNS`) and
    adds the counts of the rows it stored to a part of each of their sessions that no other
    writer holds, or to a new part where every part is held (see the module's docstring)."""
    stored = table(_STORED, *[column(name) for name in _STORED_COLUMNS])
    counts = counted(stored.c.session_pk.is_not(None), stored.c)
    names = ", ".join(c.name for c in counts.selected_columns)
    added = ", ".join([*(f"{name} = part.{name} + chosen.{name}" for name in _SUMMED),
                       "first_at = LEAST(part.first_at, chosen.first_at)",
                       "last_at = GREATEST(part.last_at, chosen.last_at)"])
    # Compiled once with its constants inline: the readings' values are the insert's parameters.
    new_parts = str(counts.compile(dialect=postgresql.dialect(),
                                   compile_kwargs={"literal_binds": True}))
    # Identifiers come from the tables' own metadata.
    return (f"WITH {_STORED} AS ({insert_readings}), new_parts AS ({new_parts}), "  # noqa: S608
            "chosen AS MATERIALIZED (SELECT new_parts.*, free.pk AS part_pk FROM new_parts "
            f"LEFT JOIN LATERAL (SELECT pk FROM {TALLY.name} "
            f"WHERE {TALLY.name}.session_pk = new_parts.session_pk LIMIT 1 "
            "FOR UPDATE SKIP LOCKED) AS free ON true), "
            f"added AS (UPDATE {TALLY.name} AS part SET {added} FROM chosen "
            "WHERE part.pk = chosen.part_pk) "
            f"INSERT INTO {TALLY.name} ({names}) SELECT {names} FROM chosen WHERE part_pk IS NULL")


def _sums(parts: Any) -> list[Any]:
    """SQL: a tally's columns summed over parts (the table's columns, or a statement's)."""
    return [parts.session_pk, *[func.sum(parts[name]).label(name) for name in _SUMMED],
            func.min(parts.first_at).label("first_at"), func.max(parts.last_at).label("last_at")]


def summed(session_pks: Any) -> Any:
    """SQL: each of these sessions' tally (its parts summed), one row a session with parts."""
    tally = TALLY.c
    return (select(*_sums(tally)).where(tally.session_pk.in_(session_pks))
            .group_by(tally.session_pk))


def fold(connection: Connection, session_pk: int) -> None:
    """Fold a closing session's parts into one, their sum. On PostgreSQL a part that a writer
    in flight holds is left as it is (`SKIP LOCKED`): the writer adds to it and commits, and the
    tally still sums every reading once, without the closing waiting for it."""
    tally = TALLY.c
    if connection.dialect.name != "postgresql":  # one writer at a time: nothing is held
        total = connection.execute(summed([session_pk])).mappings().all()
        connection.execute(delete(TALLY).where(tally.session_pk == session_pk))
        if total:
            connection.execute(insert(TALLY), [dict(row) for row in total])
        return
    free = (select(tally.pk).where(tally.session_pk == session_pk)
            .with_for_update(skip_locked=True))
    gone = delete(TALLY).where(tally.pk.in_(free)).returning(*TALLY.c).cte("gone")
    sums = select(*_sums(gone.c)).group_by(gone.c.session_pk)
    connection.execute(insert(TALLY).from_select([c.name for c in sums.selected_columns], sums)
                       .add_cte(gone))


def counted(which: Any, reading: Any = SessionReading) -> Any:
    """SQL: the tally rows of the sessions whose readings meet a condition, counted from those
    readings (the stored rows, or the columns of others holding the same names)."""
    return (select(reading.session_pk, func.count().label("readings"),
                   *[func.count(case((vitals_tally.holds_any(reading, fields), 1))).label(name)
                     for name, fields in TALLIED.items()],
                   func.min(reading.taken_at).label("first_at"),
                   func.max(reading.taken_at).label("last_at"))
            .where(which).group_by(reading.session_pk))


def recount(connection: Connection, session_pks: Sequence[int]) -> None:
    """Replace these sessions' parts with one each, counted from their readings.

    On PostgreSQL their parts are locked first, by a statement of their own. A writer in flight
    holds the part it adds to, so the recount waits for it to commit, then counts its readings
    and removes its part (the next statement sees both). A writer that comes later finds every
    part held and writes a part of its own, which the recount neither removes nor counts."""
    if not session_pks:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(select(TALLY.c.pk).where(TALLY.c.session_pk.in_(sorted(session_pks)))
                           .order_by(TALLY.c.pk).with_for_update())
    _replace(connection, TALLY, TALLY.c.session_pk.in_(session_pks),
             SessionReading.session_pk.in_(sorted(session_pks)))


def rebuild(connection: Connection, table: Table = TALLY) -> None:
    """Every session's tally counted from its readings (the migration that adds the table)."""
    _replace(connection, table, true(), SessionReading.session_pk.is_not(None))


def _replace(connection: Connection, table: Table, parts: Any, readings: Any) -> None:
    """Delete the parts and count the readings in one statement on PostgreSQL, so both see the
    same committed writes (a write committing between two statements would be counted twice:
    in its part, kept, and in the count); SQLite has one writer at a time."""
    counts = counted(readings)
    refill = insert(table).from_select([c.name for c in counts.selected_columns], counts)
    if connection.dialect.name == "postgresql":
        connection.execute(refill.add_cte(delete(table).where(parts).returning(
            table.c.session_pk).cte("removed")))
    else:
        connection.execute(delete(table).where(parts))
        connection.execute(refill)
