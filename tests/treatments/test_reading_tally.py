"""Each treatment session's reading tally equals a count of its readings after any sequence of
writes (API batches, grouped monitor messages, unmatched readings attached later) and folds of
an open session's parts, and the migration back-fills it from the readings already stored."""

import os
import threading
import uuid
from datetime import timedelta
from typing import Any

import hypothesis.strategies as st
import time_machine
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session

from ketaclinic import clock, migrate
from ketaclinic.db import make_engine
from ketaclinic.demo import seed as demo_seed
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.treatments import reading_tally, tally_folding
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import (
    OPEN,
    MonitorMessage,
    SessionReading,
    SessionReadingTally,
    TreatmentSession,
)
from ketaclinic.treatments.reading_groups import ReadingBatch, store_batches
from ketaclinic.treatments.schemas import DischargeIn
from tests.back_fill import kept_and_refilled
from tests.demo.moments import working_morning
from tests.treatments.test_ingest import open_session

PHASES = [p for p in Phase if p is not Phase.shrink or not os.environ.get("LEDGER_NO_SHRINK")]
FIELDS = ("systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "respiratory_rate_per_min",
          "spo2_pct", "temperature_c")
VALUES = {"systolic_mmhg": 120.0, "diastolic_mmhg": 80.0, "heart_rate_bpm": 70.0,
          "respiratory_rate_per_min": 14.0, "spo2_pct": 98.0, "temperature_c": 36.8}
COLUMNS = ("readings", *reading_tally.TALLIED, "first_at", "last_at")


def counted_plainly(db: Session) -> dict[int, dict[str, Any]]:
    """Every session's tally worked out from its readings, one by one."""
    found: dict[int, list[SessionReading]] = {}
    for row in db.execute(select(SessionReading).where(
            SessionReading.session_pk.is_not(None))).scalars():
        found.setdefault(row.session_pk, []).append(row)
    return {pk: {"readings": len(rows),
                 "blood_pressure": sum(r.systolic_mmhg is not None or r.diastolic_mmhg is not None
                                       for r in rows),
                 "heart_rate": sum(r.heart_rate_bpm is not None for r in rows),
                 "respiratory_rate": sum(r.respiratory_rate_per_min is not None for r in rows),
                 "spo2": sum(r.spo2_pct is not None for r in rows),
                 "temperature": sum(r.temperature_c is not None for r in rows),
                 "first_at": min(r.taken_at for r in rows),
                 "last_at": max(r.taken_at for r in rows)} for pk, rows in found.items()}


def stored(db: Session) -> dict[int, dict[str, Any]]:
    """Every session's tally: its parts summed."""
    return {t.session_pk: {c: getattr(t, c) for c in COLUMNS} for t in db.execute(
        reading_tally.summed(select(SessionReadingTally.session_pk))).all()}


def parts(db: Session, session_pk: int) -> int:
    return len(db.execute(select(SessionReadingTally.pk).where(
        SessionReadingTally.session_pk == session_pk)).all())


readings_strategy = st.lists(st.tuples(
    st.frozensets(st.sampled_from(FIELDS)), st.integers(0, 90)), min_size=1, max_size=4)


def as_readings(drawn: list[tuple[frozenset[str], int]]) -> list[Reading]:
    now = clock.now().replace(microsecond=0)
    return [Reading(now - timedelta(minutes=minutes), **{f: VALUES[f] for f in fields})
            for fields, minutes in drawn]


def test_random_writes_keep_each_tally_equal_to_its_readings(api, world, db: Session) -> None:
    sessions = [db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(open_session(api, db, world.patients[p], chair))))
        .scalar_one() for p, chair in (("p_a1", "A1"), ("p_a2", "A2"))]
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({sessions[0].site_pk}))

    def message() -> int:
        row = MonitorMessage(received_at=clock.now(), raw="MSH|", status="unmatched",
                             ack_code="AA", site_pk=sessions[0].site_pk,
                             chair_pk=sessions[0].chair_pk)
        db.add(row)
        db.flush()
        return row.pk

    class Tallies(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.unattached: list[int] = []
            self.closed: list[TreatmentSession] = []
            self.looked_up_to = 0

        @rule(which=st.integers(0, 1), drawn=readings_strategy)
        def batch_from_the_api(self, which: int, drawn: list[tuple[frozenset[str], int]]
                               ) -> None:
            if sessions[which].status != OPEN:
                return
            treatments.store_readings(db=db, treatment_session=sessions[which],
                                      chair_pk=sessions[which].chair_pk,
                                      readings=as_readings(drawn), source="api", actor=nurse)

        @rule(groups=st.lists(st.tuples(st.sampled_from([0, 1, None]), readings_strategy),
                              min_size=1, max_size=4))
        def monitor_messages_grouped(self, groups: list[tuple[int | None, Any]]) -> None:
            batches = []
            for which, drawn in groups:
                session = None if which is None else sessions[which]
                if session is not None and session.status != OPEN:
                    session = None  # a closed session's chair: kept unmatched
                message_pk = message()
                if session is None:
                    self.unattached.append(message_pk)
                batches.append(ReadingBatch(session, sessions[0].chair_pk, as_readings(drawn),
                                            "monitor-1", message_pk, nurse))
            watches = treatments.alarm_watches(db, sessions)
            store_batches(db=db, batches=batches, watches=watches, source="monitor")

        @rule(which=st.integers(0, 1))
        def attach_unmatched(self, which: int) -> None:
            if self.unattached and sessions[which].status == OPEN:
                treatments.attach_message_readings(db=db, treatment_session=sessions[which],
                                                   message_pk=self.unattached.pop(),
                                                   actor=nurse)

        @rule(more_than=st.integers(0, 3))
        def fold_crowded_parts(self, more_than: int) -> None:
            # as the server's folder does, with a threshold low enough to fold often
            db.flush()
            connection = db.connection()
            newest = reading_tally.newest_part(connection)
            crowded = reading_tally.crowded(connection, written_after=self.looked_up_to,
                                            more_than=more_than)
            assert reading_tally.fold_parts(connection, crowded) == crowded
            self.looked_up_to = newest
            assert all(parts(db, pk) == 1 for pk in crowded)

        @rule(data=st.data())
        def discharge(self, data: st.DataObject) -> None:
            # a closed session's parts fold into one; its readings never change after
            session = data.draw(st.sampled_from(sessions))
            if session.status == OPEN:
                treatments.record_discharge(
                    db=db, review=treatments.DischargeReview(session, ()), actor=nurse,
                    data=DischargeIn(escort_present=True, driving_warning_given=True))
                self.closed.append(session)

        @invariant()
        def tallies_equal_their_readings(self) -> None:
            db.flush()
            assert stored(db) == counted_plainly(db)
            assert all(parts(db, s.pk) <= 1 for s in self.closed)

    Tallies.TestCase.settings = settings(max_examples=15, stateful_step_count=12, deadline=None,
                                         phases=PHASES, suppress_health_check=list(HealthCheck))
    Tallies.TestCase().runTest()


def test_the_migration_back_fills_every_session_from_its_readings(empty_database: str) -> None:
    engine = make_engine(empty_database)
    migrate.upgrade(engine)
    system = Actor(username="system", role="system")
    with Session(engine) as db, time_machine.travel(working_morning(), tick=False):
        demo_seed.seed(db, patients_count=8)
        chosen = db.execute(select(TreatmentSession).order_by(TreatmentSession.pk)
                            .limit(3)).scalars().all()
        assert len(chosen) == 3
        for number, session in enumerate(chosen):
            treatments.store_readings(
                db=db, treatment_session=session, chair_pk=session.chair_pk, source="api",
                actor=system, readings=[Reading(session.checked_in_at + timedelta(minutes=m),
                                                heart_rate_bpm=70.0 + m,
                                                systolic_mmhg=None if m % 3 else 120.0)
                                        for m in range(number + 2)])
        db.commit()
    kept, filled = kept_and_refilled(engine, "0027", stored)
    with Session(engine) as db:  # the rows themselves are as the writes left them
        assert kept == counted_plainly(db) and len(kept) >= 3
    engine.dispose()
    assert filled == kept


def test_a_write_in_flight_when_its_session_closes_still_counts_once(
        seeded_postgres: Engine) -> None:
    # PostgreSQL lets a batch commit after the session's discharge folded its parts: the fold
    # neither sees nor removes that batch's part, so the tally still sums every reading once.
    engine = seeded_postgres
    system = Actor(username="system", role="system")
    with Session(engine) as writer, Session(engine) as closer:
        session = writer.execute(select(TreatmentSession).where(
            TreatmentSession.status == OPEN)).scalars().first()
        assert session is not None
        session_pk = session.pk
        treatments.store_readings(
            db=writer, treatment_session=session, chair_pk=session.chair_pk, source="api",
            actor=system, readings=[Reading(session.checked_in_at + timedelta(minutes=m),
                                            heart_rate_bpm=70.0) for m in range(5)])
        writer.flush()  # in flight: not committed when the session closes
        closing = closer.get(TreatmentSession, session.pk)
        treatments.record_discharge(db=closer, review=treatments.DischargeReview(closing, ()),
                                    data=DischargeIn(escort_present=True,
                                                     driving_warning_given=True), actor=system)
        closer.commit()
        writer.commit()
    with Session(engine) as db:
        assert stored(db) == counted_plainly(db)
        assert stored(db)[session_pk]["heart_rate"] >= 5
    engine.dispose()


def test_readings_and_their_tally_parts_go_in_with_one_statement_on_postgresql(
        api, world, db: Session) -> None:
    # A batch (the API's) and a group of monitor messages for two sessions and an unmatched
    # chair: on PostgreSQL the insert and its tally parts are one statement, the parts counted
    # from the rows stored; on SQLite, the insert then the parts.
    sessions = [db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(open_session(api, db, world.patients[p], chair))))
        .scalar_one() for p, chair in (("p_a1", "A1"), ("p_a2", "A2"))]
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({sessions[0].site_pk}))
    watches = treatments.alarm_watches(db, sessions)
    message = MonitorMessage(received_at=clock.now(), raw="MSH|", status="unmatched",
                             ack_code="AA", site_pk=sessions[0].site_pk,
                             chair_pk=sessions[0].chair_pk)
    db.add(message)
    db.flush()
    statements: list[str] = []
    connection = db.connection()

    def listener(_conn, _cursor, statement, *_rest) -> None:
        statements.append(statement)

    drawn = [(frozenset({"systolic_mmhg", "diastolic_mmhg", "spo2_pct"}), 3),
             (frozenset({"heart_rate_bpm"}), 2), (frozenset({"temperature_c"}), 1)]
    event.listen(connection, "before_cursor_execute", listener)
    try:
        treatments.store_readings(db=db, treatment_session=sessions[0],
                                  chair_pk=sessions[0].chair_pk, readings=as_readings(drawn),
                                  source="api", actor=nurse, watch=watches[sessions[0].pk])
        api_statements = len(statements)
        store_batches(db=db, batches=[
            ReadingBatch(session, sessions[0].chair_pk, as_readings(drawn[:n]), "monitor-1",
                         message.pk, nurse)
            for n, session in ((3, sessions[0]), (1, sessions[1]), (2, None), (2, sessions[1]))],
            watches=watches, source="monitor")
    finally:
        event.remove(connection, "before_cursor_execute", listener)
    one_statement = db.get_bind().dialect.name == "postgresql"
    assert (api_statements, len(statements) - api_statements) == (
        (1, 1) if one_statement else (2, 2))
    db.flush()
    assert stored(db) == counted_plainly(db)
    assert stored(db)[sessions[1].pk]["readings"] == 3
    assert parts(db, sessions[0].pk) == 2 and parts(db, sessions[1].pk) == 1


def write_parts(db: Session, session: TreatmentSession, writes: int) -> None:
    """`writes` API batches of one reading each: a part each."""
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
    start = session.checked_in_at
    for n in range(writes):
        treatments.store_readings(
            db=db, treatment_session=session, chair_pk=session.chair_pk, source="api",
            actor=nurse, readings=[Reading(start + timedelta(seconds=n), heart_rate_bpm=70.0,
                                           systolic_mmhg=None if n % 2 else 120.0)])


def test_the_folder_folds_an_open_session_once_it_has_more_than_32_parts(
        api, world, db: Session) -> None:
    crowded, quiet = [db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(open_session(api, db, world.patients[p], chair))))
        .scalar_one() for p, chair in (("p_a1", "A1"), ("p_a2", "A2"))]
    folder = tally_folding.TallyFolder()
    assert folder.fold_once() == [], "the first look notes the newest part"
    write_parts(db, crowded, reading_tally.CROWDED_AT)
    write_parts(db, quiet, 3)
    db.flush()
    assert folder.fold_once() == [], "32 parts are not yet crowded"
    assert parts(db, crowded.pk) == reading_tally.CROWDED_AT
    write_parts(db, crowded, 1)
    db.flush()
    before = stored(db)
    assert folder.fold_once() == [crowded.pk]
    assert (parts(db, crowded.pk), parts(db, quiet.pk)) == (1, 3)
    assert stored(db) == before == counted_plainly(db)
    assert stored(db)[crowded.pk]["readings"] == reading_tally.CROWDED_AT + 1
    assert folder.fold_once() == [], "nothing written since the last look"


def test_the_folder_folds_a_few_sessions_a_transaction(api, world, db: Session,
                                                       monkeypatch) -> None:
    monkeypatch.setattr(tally_folding, "SESSIONS_AT_ONCE", 1)
    sessions = [db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(open_session(api, db, world.patients[p], chair))))
        .scalar_one() for p, chair in (("p_a1", "A1"), ("p_a2", "A2"))]
    chunks: list[list[int]] = []
    fold_parts = reading_tally.fold_parts

    def noting_chunks(connection: Any, pks: list[int]) -> list[int]:
        chunks.append(list(pks))
        return fold_parts(connection, pks)

    monkeypatch.setattr(reading_tally, "fold_parts", noting_chunks)
    folder = tally_folding.TallyFolder(more_than=2)
    folder.fold_once()
    for session in sessions:
        write_parts(db, session, 3)
    db.flush()
    assert sorted(folder.fold_once()) == sorted(s.pk for s in sessions)
    assert sorted(chunks) == [[s.pk] for s in sorted(sessions, key=lambda s: s.pk)]
    assert [parts(db, s.pk) for s in sessions] == [1, 1]
    assert stored(db) == counted_plainly(db)


def _open_session(engine: Engine) -> tuple[int, int]:
    """An open session of the seeded clinic given 6 more parts, and its readings now."""
    with Session(engine) as db:
        session = db.execute(select(TreatmentSession).where(TreatmentSession.status == OPEN)
                             .order_by(TreatmentSession.pk)).scalars().first()
        assert session is not None
        write_parts(db, session, 6)
        db.commit()
        return session.pk, stored(db)[session.pk]["readings"]


def test_a_fold_leaves_a_write_in_flight_counted_once(seeded_postgres: Engine) -> None:
    engine = seeded_postgres
    session_pk, readings = _open_session(engine)
    with Session(engine) as writer, Session(engine) as folder:
        write_parts(writer, writer.get_one(TreatmentSession, session_pk), 2)
        writer.flush()  # in flight while the parts are folded
        assert reading_tally.fold_parts(folder.connection(), [session_pk]) == [session_pk]
        folder.commit()
        writer.commit()
    with Session(engine) as db:
        assert parts(db, session_pk) == 3, "the fold's sum and the in-flight write's two parts"
        assert stored(db) == counted_plainly(db)
        assert stored(db)[session_pk]["readings"] == readings + 2


def test_a_fold_leaves_a_session_a_recount_holds_for_the_next_look(seeded_postgres: Engine
                                                                     ) -> None:
    engine = seeded_postgres
    session_pk, _ = _open_session(engine)
    with Session(engine) as counter, Session(engine) as folder:
        reading_tally.recount(counter.connection(), [session_pk])
        folder.execute(text("SET LOCAL lock_timeout = '2s'"))  # a wait would fail, not hang
        assert reading_tally.fold_parts(folder.connection(), [session_pk]) == []
        counter.commit()
        folder.rollback()


def test_a_recount_waits_for_a_fold_in_flight_and_counts_each_reading_once(
        seeded_postgres: Engine) -> None:
    # Without the recount's lock on its session, a recount begun while a fold is in flight
    # would count from a snapshot without the fold's sum, keep that sum and add its own count.
    engine = seeded_postgres
    session_pk, readings = _open_session(engine)
    with Session(engine) as counter, Session(engine) as folder:
        assert reading_tally.fold_parts(folder.connection(), [session_pk]) == [session_pk]
        recounted = threading.Thread(target=_recount, args=(counter, session_pk))
        recounted.start()
        recounted.join(0.5)
        assert recounted.is_alive(), "the recount waits for the fold in flight"
        folder.commit()
        recounted.join(10)
        assert not recounted.is_alive()
        counter.commit()
    with Session(engine) as db:
        assert parts(db, session_pk) == 1
        assert stored(db) == counted_plainly(db)
        assert stored(db)[session_pk]["readings"] == readings


def _recount(db: Session, session_pk: int) -> None:
    db.execute(text("SET LOCAL lock_timeout = '10s'"))
    reading_tally.recount(db.connection(), [session_pk])
