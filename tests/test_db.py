"""The SQLite engine: a process's write transactions take turns on a lock of their own (fair:
each waits its turn rather than polling SQLite against every other waiter), and a turn always
ends, by commit, by rollback, when a connection goes back to the pool or when it is lost."""

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ketaclinic import db as db_module
from ketaclinic.db import make_engine


@pytest.fixture
def engine(tmp_path, monkeypatch):
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_S", 0.5)
    made = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with made.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield made
    made.dispose()


def test_a_second_transaction_waits_for_the_turn_then_runs(engine) -> None:
    first = engine.connect()
    first.begin()
    first.execute(text("INSERT INTO t VALUES (1)"))
    started = []

    def second() -> None:
        with engine.begin() as conn:
            started.append(time.monotonic())
            conn.execute(text("INSERT INTO t VALUES (2)"))

    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(0.2)
    assert started == []  # still waiting for its turn
    released = time.monotonic()
    first.commit()
    waiter.join(5)
    assert started and started[0] >= released
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
    first.close()


def test_a_turn_not_given_up_in_time_is_refused_with_the_reason(engine) -> None:
    holder = engine.connect()
    holder.begin()
    failed: list[Exception] = []

    def late() -> None:
        try:
            with engine.begin():
                pass
        except OperationalError as exc:
            failed.append(exc)

    waiter = threading.Thread(target=late)
    waiter.start()
    waiter.join(5)
    assert failed and "this process's other transactions" in str(failed[0])
    holder.rollback()  # the turn ends with a rollback too
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (3)"))
    holder.close()


def test_a_connection_returned_mid_transaction_gives_up_its_turn(engine) -> None:
    abandoned = engine.connect()
    abandoned.begin()
    abandoned.execute(text("INSERT INTO t VALUES (4)"))
    abandoned.close()  # back to the pool, rolled back there
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0


def test_a_connection_lost_mid_transaction_gives_up_its_turn(engine) -> None:
    lost = engine.connect()
    lost.begin()
    lost.execute(text("INSERT INTO t VALUES (5)"))
    lost.invalidate()  # as when the connection fails under a write
    lost.rollback()  # the session's clean-up: no error about the connection's state
    lost.close()
    with engine.begin() as conn:  # the next writer gets the turn at once
        conn.execute(text("INSERT INTO t VALUES (6)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalars().all() == [6]


def _reader(engine):
    return engine.execution_options(**{db_module.READ_FIRST: True}).connect()


def test_a_reader_takes_no_lock_so_a_writer_does_not_wait_for_it(engine) -> None:
    reader = _reader(engine)
    reader.begin()
    assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
    done = []

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        done.append(True)

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(2)
    assert done == [True], "the writer waited for a transaction that only read"
    assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0  # its own snapshot
    reader.rollback()
    reader.close()


def test_a_reader_that_writes_takes_the_turn_and_commits(engine) -> None:
    reader = _reader(engine)
    reader.begin()
    reader.execute(text("SELECT count(*) FROM t"))
    reader.execute(text("INSERT INTO t VALUES (7)"))
    reader.commit()
    reader.close()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalars().all() == [7]


def test_a_reader_whose_snapshot_went_stale_is_told_to_run_again(engine) -> None:
    reader = _reader(engine)
    reader.begin()
    reader.execute(text("SELECT count(*) FROM t"))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(db_module.ReadBecameStale):
        reader.execute(text("INSERT INTO t VALUES (2)"))
    reader.rollback()
    reader.close()
    with engine.begin() as conn:  # the turn was given back
        conn.execute(text("INSERT INTO t VALUES (3)"))
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 3]
