"""The audit events of a request's transaction are held to its end: if it only read, written in a
group with other readers' (one commit for many); if it wrote, taken with its changes, all in one
insert."""

import asyncio
import threading

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from ketaclinic.audit import group
from ketaclinic.audit import service as audit
from ketaclinic.audit.models import AuditEvent, Unsealed
from ketaclinic.kernel.actor import Actor
from tests.own_loop import run_in_own_loop

NURSE = Actor(username="nurse_a", role="nurse")


def _events_with(db: Session, detail: str) -> list[AuditEvent]:
    return list(db.execute(select(AuditEvent).where(AuditEvent.detail == detail)).scalars())


def test_a_reading_transaction_holds_its_events_until_it_ends(db: Session, monkeypatch) -> None:
    monkeypatch.setattr(audit, "is_reading", lambda _db: True)
    audit.hold(db)
    audit.record(db=db, actor=NURSE, action="read", record_type="Patient", detail="held one")
    assert _events_with(db, "held one") == []
    audit.commit(db)
    [event] = _events_with(db, "held one")
    assert event.seq and event.mac == audit.content_mac(event)
    assert db.get(Unsealed, ("audit", event.seq)) is not None


def test_a_transaction_that_came_to_write_takes_its_held_events_with_it(db: Session,
                                                                        monkeypatch) -> None:
    reading = [True]
    monkeypatch.setattr(audit, "is_reading", lambda _db: reading[0])
    audit.hold(db)
    audit.record(db=db, actor=NURSE, action="read", detail="held two")
    reading[0] = False  # the request went on to write
    written = []
    monkeypatch.setattr(audit, "_GROUP", group.GroupWriter(written.append))
    audit.commit(db)
    assert written == [] and len(_events_with(db, "held two")) == 1


def test_a_writing_transaction_writes_its_held_events_together_in_order(db: Session,
                                                                         monkeypatch) -> None:
    monkeypatch.setattr(audit, "is_reading", lambda _db: False)
    audit.hold(db)
    for number in range(3):
        audit.record(db=db, actor=NURSE, action="create", detail=f"write {number}")
    assert _events_with(db, "write 0") == []
    inserts = []
    real = audit._insert_events
    monkeypatch.setattr(audit, "_insert_events", lambda conn, events: (
        inserts.append(len(events)), real(conn, events)))
    audit.commit(db)
    assert inserts == [3]
    written = [_events_with(db, f"write {n}")[0] for n in range(3)]
    assert [e.seq for e in written] == sorted(e.seq for e in written)
    assert all(e.mac == audit.content_mac(e) for e in written)


class SlowBatches:
    """A batch writer that holds its first batch until released, noting each batch's size."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()

    def __call__(self, events) -> None:
        self.sizes.append(len(events))
        self.entered.set()
        self.release.wait(5)
        self.finished.set()


def test_concurrent_writers_share_commits() -> None:
    slow = SlowBatches()
    batches, entered, release = slow.sizes, slow.entered, slow.release
    writer = group.GroupWriter(slow)
    first = threading.Thread(target=writer.write, args=([object()],))
    first.start()
    entered.wait(5)
    others = [threading.Thread(target=writer.write, args=([object()],)) for _ in range(8)]
    for thread in others:
        thread.start()
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert batches[0] == 1 and sum(batches) == 9 and len(batches) <= 3


def test_a_failed_group_commit_is_raised_to_every_writer_in_it() -> None:
    def failing(events) -> None:
        raise RuntimeError("disk full")

    writer = group.GroupWriter(failing)
    try:
        writer.write([object()])
    except RuntimeError as exc:
        assert "disk full" in str(exc)
    else:
        raise AssertionError("the failure was swallowed")


def test_readers_on_the_event_loop_share_commits() -> None:
    slow = SlowBatches()
    batches, entered, release = slow.sizes, slow.entered, slow.release
    writer = group.AsyncGroupWriter(slow)

    async def readers() -> None:
        first = asyncio.ensure_future(writer.write([object()]))
        await asyncio.to_thread(entered.wait, 5)
        others = [asyncio.ensure_future(writer.write([object(), object()])) for _ in range(8)]
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, *others)

    run_in_own_loop(readers)
    # the first batch was in flight; the eight that came meanwhile went in one more
    assert batches == [1, 16]


def test_a_failed_group_commit_on_the_loop_is_raised_to_every_reader_in_it() -> None:
    def failing(events) -> None:
        raise RuntimeError("disk full")

    writer = group.AsyncGroupWriter(failing)

    async def readers() -> list[object]:
        return await asyncio.gather(*(writer.write([object()]) for _ in range(3)),
                                    return_exceptions=True)

    outcomes = run_in_own_loop(readers)
    assert [str(outcome) for outcome in outcomes] == ["disk full"] * 3


def test_a_reader_that_is_cancelled_while_it_waits_still_has_its_events_written() -> None:
    slow = SlowBatches()
    writer = group.AsyncGroupWriter(slow)

    async def reader_who_hangs_up() -> list[int]:
        waiting = asyncio.ensure_future(writer.write([object(), object()]))
        await asyncio.to_thread(slow.entered.wait, 5)
        waiting.cancel()
        await asyncio.sleep(0.05)
        slow.release.set()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.to_thread(slow.finished.wait, 5)
        return slow.sizes

    assert run_in_own_loop(reader_who_hangs_up) == [2]


def test_a_read_first_transaction_knows_when_it_first_writes(world) -> None:
    # on both back ends: what decides whether a request's audit events go with its change or
    # into a readers' group commit
    from sqlalchemy import func, insert
    from sqlalchemy.orm import sessionmaker

    from ketaclinic.db import READ_FIRST, is_reading, make_engine

    engine = make_engine(world.url)
    reader = sessionmaker(bind=engine.execution_options(**{READ_FIRST: True}))
    writer = sessionmaker(bind=engine)
    try:
        with reader() as db:
            db.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
            assert is_reading(db)
            db.execute(insert(Unsealed).values(chain="probe", ref=-1))
            assert not is_reading(db)
            db.rollback()
            db.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
            assert is_reading(db)  # a new transaction starts reading again
        with writer() as db:
            db.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
            assert not is_reading(db)
    finally:
        engine.dispose()


def test_writing_events_again_reuses_the_compiled_statements(db: Session) -> None:
    # Every audited request writes its events: a statement compiled afresh each time (as a
    # multi-row INSERT is) cost PostgreSQL's audited writes more than the round trip.
    seen: list[tuple[bool, str, int]] = []

    def note(_conn, _cursor, statement, params, context, _many) -> None:
        if "audit_event" in statement and statement.lstrip().upper().startswith(("INSERT", "WITH")):
            count = len(params) if isinstance(params, dict) else len(params[0])
            # no execution context: run from its kept plan (kept_rows.kept_write), compiled once
            seen.append((context is None or context.cache_hit == CACHE_HIT, statement, count))

    connection = db.connection()
    event.listen(connection, "before_cursor_execute", note)
    try:
        for round_, events in enumerate((2, 2, 2, 9, 30)):
            audit.record_many(db, [audit.new_event(actor=NURSE, action="read",
                                                   detail=f"again {round_} {n}")
                                   for n in range(events)])
    finally:
        event.remove(connection, "before_cursor_execute", note)
    assert len(seen) == 5 and all(hit for hit, _, _ in seen[1:3])
    if db.get_bind().dialect.name == "postgresql":
        # psycopg keeps its conversion of a statement of at most 50 parameters: a group past
        # a few events goes in as one array a column, one statement whatever the count.
        assert all(count <= 50 for _, _, count in seen)
        assert seen[3][1] == seen[4][1]


def test_an_event_too_long_for_its_column_is_refused_not_cut_short(db: Session) -> None:
    # Its MAC covers the whole value: a value cut short as it is stored would fail
    # verification later as though someone had changed it.
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite does not hold a VARCHAR to its length")
    for count in (1, 10):  # a write's few events, and a group's
        events = [audit.new_event(actor=NURSE, action="read") for _ in range(count - 1)]
        events.append(audit.new_event(actor=NURSE, action="read", record_type="R" * 51))
        with pytest.raises(DataError), db.begin_nested():
            audit.record_many(db, events)
