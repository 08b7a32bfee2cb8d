"""Writing, reading and verifying the audit trail."""

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import cast

from sqlalchemy import Connection, Table, TextClause, bindparam, func, insert, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.array_inserts import unnest_of
from ketaclinic.audit import keyed, sealing
from ketaclinic.audit.group import AsyncGroupWriter, GroupWriter
from ketaclinic.audit.models import AUDIT_SEQUENCE, AuditEvent, Unsealed
from ketaclinic.audit.numbering import NumberBlocks
from ketaclinic.db import UTCDateTime, alone_session_factory, is_reading, session_factory
from ketaclinic.kept_rows import kept_write
from ketaclinic.kernel.actor import Actor

DETAIL_MAX = 1000
CHAIN = "audit"
HELD = "ketaclinic.audit_held"


def content(event: AuditEvent) -> list[keyed.Part]:
    """What an event's MAC covers: all of it, its number included."""
    return [event.seq, str(event.id), keyed.canonical_time(event.created_at), event.created_by,
            event.role, event.action, event.record_type, event.record_id, event.patient_id,
            event.client, event.detail]


def content_mac(event: AuditEvent) -> str:
    """The keyed MAC of one event's content."""
    return keyed.mac(content(event))


_LAST_SEQ = select(func.coalesce(func.max(AuditEvent.seq), 0))

AUDIT_TRAIL = sealing.SealedTable(
    chain=CHAIN, model=AuditEvent, ref=AuditEvent.seq, row_mac=content_mac,
    written_at=lambda event: event.created_at, name_of=lambda event: str(event.id))


def _append(db: Session, event: AuditEvent) -> None:
    # Core statements on the session's connection, not the unit of work: this runs for every
    # audited write, and an ORM flush per event cost more than the event's two inserts.
    _insert_events(db.connection(), [event])


def record(
    *,
    db: Session,
    actor: Actor,
    action: str,
    record_type: str = "",
    record_id: object = "",
    patient_id: object = None,
    detail: str = "",
) -> AuditEvent:
    """Append one event in the caller's transaction, MACed now and sealed once committed (in a
    request's transaction, held to its end and written there with the others, see `hold`)."""
    event = new_event(actor=actor, action=action, record_type=record_type, record_id=record_id,
                      patient_id=patient_id, detail=detail)
    held = db.info.get(HELD)
    if held is not None:
        held.append(event)
    else:
        _append(db, event)
    return event


def new_event(*, actor: Actor, action: str, record_type: str = "", record_id: object = "",
              patient_id: object = None, detail: str = "") -> AuditEvent:
    """An event stamped now, not yet written (see `record_many`)."""
    return AuditEvent(
        id=uuid.uuid4(),
        created_at=clock.now(),
        created_by=actor.username,
        role=actor.role,
        action=action,
        record_type=record_type,
        record_id=str(record_id) if record_id else "",
        patient_id=str(patient_id) if patient_id else None,
        client=actor.client[:100],
        detail=detail[:DETAIL_MAX],
    )


def record_many(db: Session, events: Sequence[AuditEvent]) -> None:
    """Append several events in the caller's transaction, with two statements for them all
    (a group of monitor messages writes one per session)."""
    if events:
        _insert_events(db.connection(), events)


_COLUMNS = ("seq", "id", "created_at", "created_by", "role", "action", "record_type",
            "record_id", "patient_id", "client", "detail", "mac")


_NEXT_NUMBERS = select(AUDIT_SEQUENCE.next_value()).select_from(
    func.generate_series(1, bindparam("count")))


def _draw(connection: Connection, count: int) -> list[int]:
    return [int(n) for n in connection.execute(_NEXT_NUMBERS, {"count": count}).scalars()]


_NUMBERS = NumberBlocks(_draw)


def _next_seqs(connection: Connection, count: int) -> list[int]:
    if connection.dialect.name == "postgresql":
        return _NUMBERS.take(connection, count)
    # SQLite: the writer holds the database's one write lock, so the next free number is its own
    first = int(connection.execute(_LAST_SEQ).scalar_one()) + 1
    return list(range(first, first + count))


_INSERT_EVENTS = insert(AuditEvent)
EVENTS_A_STATEMENT = 1000
_INSERT_UNSEALED = insert(Unsealed)


def _write_group(events: Sequence[AuditEvent]) -> None:
    # Core statements on the session's connection, two for the whole group: the group holds
    # the one write turn, and every Python step inside it is a step all the waiting readers
    # wait for. A group that is one statement (PostgreSQL's, up to a statement's worth) needs
    # no transaction around it.
    one_statement = len(events) <= EVENTS_A_STATEMENT
    with (alone_session_factory() if one_statement else session_factory())() as db:
        _insert_events(db.connection(), events)
        db.commit()


_CTE = "events_written"
_STAMP, _POSTGRESQL = UTCDateTime(), postgresql.dialect()


# psycopg keeps its conversion of a statement of at most this many parameters; past it, the
# statement is converted anew at every execution (about a millisecond for eight events).
_DRIVER_KEEPS_UP_TO = 50
# A write's few events go in with a parameter a value (cheapest for one or two events); more,
# as a reader group's are, go in as one array a column, so the statement stays within that bound.
_BY_VALUE_UP_TO = (_DRIVER_KEEPS_UP_TO - 1) // len(_COLUMNS)


def _events_then_notes(rows: str, refs: str) -> str:
    """The PostgreSQL statement writing events (`rows`: their VALUES or SELECT) and, in the same
    round trip, their notes for the sealer (`refs`: the notes' VALUES or SELECT)."""
    events, notes = cast(Table, AuditEvent.__table__), cast(Table, Unsealed.__table__)
    # Names from the tables' own metadata; values travel as parameters.
    return (f"WITH {_CTE} AS (INSERT INTO {events.name} ({', '.join(_COLUMNS)}) {rows}) "
            f"INSERT INTO {notes.name} (chain, ref) {refs}")


@lru_cache(maxsize=_BY_VALUE_UP_TO)
def _events_and_notes_by_value(count: int) -> TextClause:
    """The statement for `count` events with a parameter a value: `<column>_<i>` and `chain`
    (the note's ref is the event's seq)."""
    events, notes = cast(Table, AuditEvent.__table__), cast(Table, Unsealed.__table__)
    rows = ", ".join("(" + ", ".join(f":{c}_{i}" for c in _COLUMNS) + ")" for i in range(count))
    refs = ", ".join(f"(:chain, :seq_{i})" for i in range(count))
    return text(_events_then_notes(f"VALUES {rows}", f"VALUES {refs}")).bindparams(
        bindparam("chain", type_=notes.c.chain.type),
        *(bindparam(f"{c}_{i}", type_=events.c[c].type) for i in range(count) for c in _COLUMNS))


def _events_and_notes_as_arrays() -> str:
    """The statement for any number of events with a parameter a column, each an array of the
    column's values unnested into rows: `<column>` and `chain`."""
    events = cast(Table, AuditEvent.__table__)
    return _events_then_notes(f"SELECT * FROM {unnest_of(events, _COLUMNS)}",  # noqa: S608
                              "SELECT %(chain)s, unnest(%(seq)b::BIGINT[])")


# The same statement for any number of events, with a parameter a column: the driver converts it
# once and the server prepares it once.
_EVENTS_AND_NOTES = _events_and_notes_as_arrays()


def _insert_events(connection: Connection, events: Sequence[AuditEvent]) -> None:
    """Number, MAC and insert the events, and note them for the sealer: one statement on
    PostgreSQL, two on SQLite (where a statement is a call, not a round trip)."""
    rows = []
    for event, seq in zip(events, _next_seqs(connection, len(events)), strict=True):
        event.seq = seq
        event.mac = content_mac(event)
        rows.append({c: getattr(event, c) for c in _COLUMNS})
    if connection.dialect.name == "postgresql":
        # One statement, so one round trip to the server: the notes for the sealer, with the
        # events written by a CTE of the same statement (it runs though nothing reads it).
        if len(rows) <= _BY_VALUE_UP_TO:
            kept_write(connection, _events_and_notes_by_value(len(rows)), {
                "chain": CHAIN, **{f"{name}_{i}": value for i, row in enumerate(rows)
                                   for name, value in row.items()}})
            return
        # Chunked, so a bulk write sends arrays of a bounded size.
        for first in range(0, len(rows), EVENTS_A_STATEMENT):
            chunk = rows[first:first + EVENTS_A_STATEMENT]
            columns: dict[str, object] = {name: [row[name] for row in chunk] for name in _COLUMNS}
            columns["created_at"] = [_utc(row["created_at"]) for row in chunk]
            connection.exec_driver_sql(_EVENTS_AND_NOTES, {"chain": CHAIN, **columns})
        return
    connection.execute(_INSERT_EVENTS, rows)
    connection.execute(_INSERT_UNSEALED, _notes(rows))


def _utc(moment: object) -> object:
    """A timestamp as the column stores it (aware, in UTC; a naive one refused)."""
    return _STAMP.process_bind_param(cast(datetime, moment), _POSTGRESQL)


def _notes(rows: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """The sealer's notes of event rows about to be written."""
    return [{"chain": CHAIN, "ref": row["seq"]} for row in rows]


_GROUP = GroupWriter(_write_group)
_ASYNC_GROUP = AsyncGroupWriter(_write_group)


def hold(db: Session) -> None:
    """Hold the events of a request's transaction to its end (`end`, `commit`): written in it
    with its changes, all with one insert, if it wrote; in a group commit with other readers'
    if it only read."""
    db.info[HELD] = []


def end(db: Session) -> list[AuditEvent]:
    """Commit the transaction with the events it holds if it wrote; if it only read, commit it
    and give back its held events, still to be written (`commit`, `write_held`)."""
    held = db.info.pop(HELD, None) or []
    if held and not is_reading(db):
        _insert_events(db.connection(), held)
        held = []
    db.commit()
    return held


def commit(db: Session) -> None:
    """Commit the transaction with the events it holds: in it if it wrote, else right after it,
    grouped with other readers' events; either way durable before this returns."""
    held = end(db)
    if held:
        _GROUP.write(held)


async def write_held(events: Sequence[AuditEvent]) -> None:
    """Write the events `end` gave back, grouped with other readers' on this event loop; durable
    before this returns."""
    await _ASYNC_GROUP.write(events)


def drop_held(db: Session) -> None:
    """Forget the events held by a transaction that is rolled back (they are rolled back too)."""
    db.info.pop(HELD, None)


def record_now(**kwargs: object) -> None:
    """Append one event in a transaction of its own, kept even if the caller's rolls back."""
    with session_factory()() as db:
        record(db=db, **kwargs)  # type: ignore[arg-type]
        db.commit()


def pending_seal(db: Session) -> int:
    """Events committed (or written in this transaction) and not sealed yet."""
    return sealing.pending_count(db, CHAIN)


def verify(*, db: Session, anchor: sealing.Anchor | None = None,
           progress: Callable[[int], None] | None = None) -> sealing.ChainReport:
    """Check the audit chain (against an anchor when given) and its unsealed rows."""
    return sealing.verify(db, AUDIT_TRAIL, anchor=anchor, progress=progress)


def for_patient(*, db: Session, patient_id: object, limit: int = 500) -> Sequence[AuditEvent]:
    """The most recent events that touched one patient's record, newest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.patient_id == str(patient_id))
        # by time: numbers are unique, not in order (each server process draws its own blocks)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.seq.desc())
        .limit(limit)
    )
    return db.execute(query).scalars().all()
