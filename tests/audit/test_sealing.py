"""The sealer: writers append audit events without a shared lock, and a transaction that commits
after a later-numbered one is still chained (PostgreSQL, where that happens)."""

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from ketaclinic import clock, migrate, sealer
from ketaclinic.audit import sealing
from ketaclinic.audit import service as audit
from ketaclinic.audit.models import AuditEvent, Seal, Unsealed
from ketaclinic.db import make_engine
from ketaclinic.kernel.actor import Actor

NURSE = Actor(username="nurse_a", role="nurse")


def _seal(engine: object) -> int:
    with Session(engine) as db:  # type: ignore[call-overload]
        done = sealing.seal_pending(db, sealer.SEALED, now=clock.now())
        db.commit()
    return int(done)


def test_a_late_commit_is_still_chained_and_writers_share_no_lock(
        migrated_postgres: Engine) -> None:
    # (SQLite has one writer at a time: numbers commit in the order taken)
    engine = migrated_postgres
    early, late = Session(engine), Session(engine)
    try:
        first = audit.record(db=early, actor=NURSE, action="read", detail="numbered first").seq
        # A second writer appends and commits while the first is still open: no lock is shared
        # (the old chain's advisory lock made it wait until the statement timeout).
        late.execute(text("SET LOCAL lock_timeout = '2s'"))
        second = audit.record(db=late, actor=NURSE, action="read", detail="numbered second").seq
        late.commit()
        assert second > first
        assert _seal(engine) == 1, "only the committed row is sealed"
        early.commit()
    finally:
        early.close()
        late.close()
    assert _seal(engine) == 1, "the late commit is sealed on the next pass"
    with Session(engine) as db:
        order = db.execute(select(Seal.ref).where(Seal.chain == audit.CHAIN)
                           .order_by(Seal.pos)).scalars().all()
        report = audit.verify(db=db)
    assert order == [second, first]
    assert report.ok and report.rows_checked == 2 and report.unsealed == 0
    engine.dispose()


def test_one_sealer_at_a_time(empty_database: str) -> None:
    engine = make_engine(empty_database)
    migrate.upgrade(engine)
    with Session(engine) as db:
        audit.record(db=db, actor=NURSE, action="read")
        db.commit()
    if engine.dialect.name == "postgresql":
        with Session(engine) as holder:
            assert sealing.seal_pending(holder, sealer.SEALED, now=clock.now()) == 1
            assert _seal(engine) == 0, "a second sealer finds the lock taken and leaves"
            holder.commit()
    else:
        assert _seal(engine) == 1
    assert _seal(engine) == 0
    with Session(engine) as db:
        assert audit.verify(db=db).ok
    engine.dispose()


def test_the_worker_seals_and_anchors_when_an_anchor_is_due(db, world, tmp_path, monkeypatch,
                                                            clinic_clock) -> None:
    from datetime import timedelta

    from ketaclinic import worker
    from ketaclinic.audit import anchors
    from ketaclinic.settings import get_settings

    anchor_file = tmp_path / "anchors.jsonl"
    monkeypatch.setattr(get_settings(), "audit_anchor_file", str(anchor_file))
    monkeypatch.setattr(get_settings(), "audit_anchor_every_s", 3600)
    first = worker.run_once()
    assert first.sealed > 0 and first.anchored
    assert audit.pending_seal(db) == 0
    assert worker.run_once().anchored is False, "not due again within the hour"
    clinic_clock.shift(timedelta(hours=1, seconds=1))
    assert worker.run_once().anchored
    assert len(anchor_file.read_text().splitlines()) == 2
    last = anchors.last(anchor_file, audit.CHAIN)
    assert audit.verify(db=db, anchor=last).ok


def test_events_beyond_one_statement_are_all_written_noted_and_sealed(empty_database: str
                                                                      ) -> None:
    engine = make_engine(empty_database)
    migrate.upgrade(engine)
    count = audit.EVENTS_A_STATEMENT + 5
    with Session(engine) as db:
        audit.record_many(db, [audit.new_event(actor=NURSE, action="read", detail=f"n{n}")
                               for n in range(count)])
        db.commit()
    assert _seal(engine) == count
    with Session(engine) as db:
        report = audit.verify(db=db)
    assert report.ok and report.rows_checked == count and report.unsealed == 0
    engine.dispose()


def test_a_forged_row_and_a_mark_without_a_row_are_passed_over_and_the_rest_chained_in_order(
        empty_database: str) -> None:
    engine = make_engine(empty_database)
    migrate.upgrade(engine)
    with Session(engine) as db:
        audit.record_many(db, [audit.new_event(actor=NURSE, action="read", detail=f"n{n}")
                               for n in range(3)])
        db.commit()
        real = list(db.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars())
        forged = audit.new_event(actor=NURSE, action="read", detail="not written by ketaclinic")
        forged.seq, forged.mac = real[-1] + 1, "0" * 64
        db.add(forged)
        db.add_all([Unsealed(chain=audit.CHAIN, ref=forged.seq),
                    Unsealed(chain=audit.CHAIN, ref=real[-1] + 50)])  # its row is gone
        db.commit()
    assert _seal(engine) == len(real)
    with Session(engine) as db:
        links = db.execute(select(Seal.pos, Seal.ref).where(Seal.chain == audit.CHAIN)
                           .order_by(Seal.pos)).all()
        assert [tuple(link) for link in links] == [(n + 1, ref) for n, ref in enumerate(real)]
        assert db.execute(select(Unsealed)).first() is None  # no mark is looked at twice
        report = audit.verify(db=db)
    assert not report.ok and "(forged)" in report.reason  # for the administrator
    engine.dispose()
