"""Each treatment session's reading tally (how many of its readings hold each vital sign, when
the first and last were taken), kept current in the transaction of every write of its readings.

A session's readings are only ever added: a batch, a monitor message, or unmatched readings a
nurse attaches; none is removed, moved to another session or changed. So a write adds a part
to its session's tally (one plain insert per write, not an update of one row: writers of the
same session never wait for each other's commit), the tally is the sum of its parts, and when
the session closes its parts are folded into one (`fold`); an attachment, which is rare,
recounts its session from the rows. A part written by a transaction still in flight when the
session closes is not folded, and still counts: the sum stays right however they interleave.
On PostgreSQL a write's parts go in with its readings, by the readings' own insert statement
(`insert_tallied`): the parts are counted from the rows the insert returns.

An open session gets a part at every write (a monitor's about one a second, from the listener's
group commits), and a search of its patient's Observations sums them all. So a thread of each
server (ketaclinic.treatments.tally_folding) folds the committed parts of a session that has
gathered more than a few into their sum (`crowded`, `fold_parts`), off the writers' path:
writers still only insert, and a part in flight is neither seen nor removed.
"""

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    case,
    column,
    delete,
    func,
    insert,
    select,
    table,
    true,
)
from sqlalchemy.dialects import postgresql

from ketaclinic.array_inserts import insert_arrays, insert_rows
from ketaclinic.db import insert_columns
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.patients import vitals_tally
from ketaclinic.treatments.models import SessionReading, SessionReadingTally, TreatmentSession

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
    """Add new readings (session key, its readings) to their sessions' tallies."""
    rows = tallies_of(readings_by_session)
    if not rows:
        return
    insert_rows(connection, TALLY, rows)  # every session's part in one statement


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
    adds a tally part for each session among the rows it stored."""
    stored = table(_STORED, *[column(name) for name in _STORED_COLUMNS])
    parts = counted(stored.c.session_pk.is_not(None), stored.c)
    adding = insert(TALLY).from_select([c.name for c in parts.selected_columns], parts)
    # Compiled once with its constants inline: the readings' values are the insert's parameters.
    return f"WITH {_STORED} AS ({insert_readings}) " + str(adding.compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def summed(session_pks: Any) -> Any:
    """SQL: each of these sessions' tally (its parts summed), one row a session with parts."""
    return _sums_of(TALLY).where(TALLY.c.session_pk.in_(session_pks))


def _sums_of(parts: Any) -> Any:
    """SQL: the parts (the tally table's, or rows holding its columns) summed by session."""
    return (select(parts.c.session_pk, *[func.sum(parts.c[name]).label(name)
                                         for name in ("readings", *TALLIED)],
                   func.min(parts.c.first_at).label("first_at"),
                   func.max(parts.c.last_at).label("last_at"))
            .group_by(parts.c.session_pk))


# An open session's parts are folded once it has more than this many: few enough that a search
# sums a handful of rows a session, while a session a monitor writes to every second is folded
# about every half minute.
CROWDED_AT = 32


def newest_part(connection: Connection) -> int:
    """The key of the newest tally part (0 when there is none)."""
    return int(connection.execute(select(func.coalesce(func.max(TALLY.c.pk), 0))).scalar_one())


def crowded(connection: Connection, *, written_after: int, more_than: int = CROWDED_AT
            ) -> list[int]:
    """The sessions with more than `more_than` parts among those given a part after part key
    `written_after`: a session gains parts only by writes, so a look at the sessions written to
    since the last look finds every session that has newly become crowded."""
    tally = TALLY.c
    recent = select(tally.session_pk).where(tally.pk > written_after)
    return list(connection.execute(
        select(tally.session_pk).where(tally.session_pk.in_(recent)).group_by(tally.session_pk)
        .having(func.count() > more_than).order_by(tally.session_pk)).scalars())


def fold_parts(connection: Connection, session_pks: Sequence[int]) -> list[int]:
    """Fold each of these sessions' committed parts into one, their sum; the sessions folded.

    A part of a write still in flight is neither seen nor removed, and still counts. On
    PostgreSQL a session another transaction holds (a recount, a discharge, another folder) is
    left for the next look rather than waited for, and the parts are removed and their sum
    stored by one statement, so the sum is of exactly the parts removed."""
    if not session_pks:
        return []
    if connection.dialect.name == "postgresql":
        held = _lock_sessions(connection, session_pks, skip_locked=True)
        if held:
            removed = delete(TALLY).where(TALLY.c.session_pk.in_(held)).returning(
                *[TALLY.c[name] for name in _PART_COLUMNS]).cte("removed")
            connection.execute(insert(TALLY).from_select(_PART_COLUMNS, _sums_of(removed))
                               .add_cte(removed))
        return held
    # SQLite: one writer at a time, so what is summed here is what is removed.
    chosen = sorted(session_pks)
    sums = [row._asdict() for row in connection.execute(summed(chosen))]
    connection.execute(delete(TALLY).where(TALLY.c.session_pk.in_(chosen)))
    if sums:
        connection.execute(insert(TALLY), sums)
    return chosen


_PART_COLUMNS = ("session_pk", "readings", *TALLIED, "first_at", "last_at")


def _lock_sessions(connection: Connection, session_pks: Sequence[int], *,
                   skip_locked: bool = False) -> list[int]:
    """PostgreSQL: lock these sessions' rows against another fold or recount (`FOR NO KEY
    UPDATE`, which the readings' foreign-key checks do not wait for), in key order; the ones
    locked (with `skip_locked`, those no other transaction holds)."""
    return list(connection.execute(
        select(TreatmentSession.pk).where(TreatmentSession.pk.in_(sorted(session_pks)))
        .order_by(TreatmentSession.pk).with_for_update(key_share=True, skip_locked=skip_locked))
        .scalars())


def fold(connection: Connection, session_pk: int) -> None:
    """Fold a closing session's parts into one, counted from its readings."""
    recount(connection, [session_pk])


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

    On PostgreSQL the sessions are locked first, so that a fold of their parts (`fold_parts`)
    is not in flight: its sum, committed after this count's snapshot, would count the same
    readings again."""
    if not session_pks:
        return
    if connection.dialect.name == "postgresql":
        _lock_sessions(connection, session_pks)
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
