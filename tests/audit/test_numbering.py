"""Audit event numbers on PostgreSQL: drawn a block at a time while writes come often, unique
across processes, and never handed out once stale."""

import threading
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import numbering, sealing
from ketaclinic.audit import service as audit
from ketaclinic.audit.models import AuditEvent
from ketaclinic.kernel.actor import Actor
from ketaclinic.sealer import SEALED
from tests.moved_clock import MovedClock

NURSE = Actor(username="nurse_a", role="nurse")


class Sequence:
    """A stand-in for the database's sequence, noting each draw's size."""

    def __init__(self) -> None:
        self.last = 0
        self.draws: list[int] = []

    def draw(self, connection: Any, count: int) -> list[int]:
        self.draws.append(count)
        self.last += count
        return list(range(self.last - count + 1, self.last + 1))


def _on(url: str) -> Any:
    return SimpleNamespace(engine=SimpleNamespace(url=url))


@pytest.fixture()
def ticks(monkeypatch: pytest.MonkeyPatch) -> MovedClock:
    ticking = MovedClock(100.0)
    monkeypatch.setattr(numbering.time, "monotonic", ticking)
    return ticking


def test_a_quiet_write_draws_its_own_number_and_a_busy_one_a_block(ticks: MovedClock) -> None:
    sequence = Sequence()
    blocks = numbering.NumberBlocks(sequence.draw, block=10, fresh_s=1.0)
    clinic = _on("postgresql://db/clinic")
    assert blocks.take(clinic, 1) == [1] and sequence.draws == [1]
    ticks.now += 0.1
    assert blocks.take(clinic, 2) == [2, 3] and sequence.draws == [1, 12]
    for expected in range(4, 14):
        ticks.now += 0.01
        assert blocks.take(clinic, 1) == [expected]
    assert sequence.draws == [1, 12], "the block served ten writes without a draw"
    assert blocks.take(clinic, 1) == [14] and sequence.draws == [1, 12, 11]


def test_numbers_older_than_the_freshness_window_are_never_handed_out(ticks: MovedClock) -> None:
    sequence = Sequence()
    blocks = numbering.NumberBlocks(sequence.draw, block=10, fresh_s=1.0)
    clinic = _on("postgresql://db/clinic")
    blocks.take(clinic, 1)
    ticks.now += 0.5
    assert blocks.take(clinic, 1) == [2]  # and 3 to 12 drawn with it
    ticks.now += 1.0  # say the database was restored meanwhile: 3 to 12 may be given again
    assert blocks.take(clinic, 1) == [13] and sequence.draws == [1, 11, 1]


def test_each_database_and_each_process_has_its_own_supply(
        ticks: MovedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    clinic, other = Sequence(), Sequence()
    blocks = numbering.NumberBlocks(
        lambda connection, count: (clinic if connection.engine.url.endswith("clinic")
                                   else other).draw(connection, count), block=10)
    blocks.take(_on("postgresql://db/clinic"), 1)
    blocks.take(_on("postgresql://db/clinic"), 1)
    assert blocks.take(_on("postgresql://db/other"), 1) == [1], "not the clinic's numbers"
    assert blocks.take(_on("postgresql://db/clinic"), 1) == [3]
    monkeypatch.setattr(numbering.os, "getpid", lambda: -1)  # a forked child
    assert blocks.take(_on("postgresql://db/clinic"), 1) == [13], "not its parent's 4 to 12"


def test_writers_in_two_processes_number_apart_and_the_chain_verifies(
        migrated_postgres: Engine) -> None:
    engine = migrated_postgres
    # Two supplies on one sequence, as two server processes hold, taken from by threads at once.
    supplies = [numbering.NumberBlocks(audit._draw, block=7) for _ in range(2)]
    numbers: list[int] = []
    failures: list[BaseException] = []

    def writer(blocks: numbering.NumberBlocks) -> None:
        try:
            for _ in range(25):
                with engine.begin() as connection:
                    numbers.extend(blocks.take(connection, 3))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in supplies for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert len(numbers) == 6 * 25 * 3 == len(set(numbers))
    # Events written through the process's own supply, then sealed and verified.
    with Session(engine) as db:
        for n in range(5):
            audit.record(db=db, actor=NURSE, action="read", detail=f"numbered {n}")
        db.commit()
        assert sealing.seal_pending(db, SEALED, now=clock.now()) == 5
        db.commit()
        report = audit.verify(db=db)
        assert report.ok and report.rows_checked == 5
        seqs = db.execute(select(AuditEvent.seq)).scalars().all()
        assert len(set(seqs)) == 5
        assert db.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == 5
