"""PostgreSQL: a read-first session reads without a server transaction (no BEGIN or COMMIT
round trips); its first write or lock opens one, so its writes stay all or nothing and its locks
are held to its end; and its connection goes back to the pool as writers expect it."""

from collections.abc import Iterator

import pytest
from psycopg.errors import LockNotAvailable
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ketaclinic import db as db_module
from ketaclinic.db import make_engine


@pytest.fixture
def engine(empty_database: str) -> Iterator[Engine]:
    made = make_engine(empty_database)
    if made.dialect.name != "postgresql":
        made.dispose()
        pytest.skip("SQLite's read-first transactions are tested in tests/test_db.py")
    with made.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    yield made
    made.dispose()


def _factories(engine: Engine) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    writers, readers, _ = db_module._factories(engine)
    return writers, readers


def _server_state(db: Session) -> TransactionStatus:
    return TransactionStatus(db.connection().connection.dbapi_connection.info.transaction_status)


def test_a_read_first_session_reads_outside_a_server_transaction(engine: Engine) -> None:
    _, readers = _factories(engine)
    with readers() as db:
        assert db.execute(text("SELECT count(*) FROM t")).scalar() == 1
        assert _server_state(db) == TransactionStatus.IDLE
        assert db_module.is_reading(db)
        db.commit()


def test_its_first_write_opens_a_transaction_that_a_rollback_undoes(engine: Engine) -> None:
    _, readers = _factories(engine)
    with readers() as db:
        db.execute(text("SELECT count(*) FROM t"))
        db.execute(text("INSERT INTO t VALUES (2)"))
        assert _server_state(db) == TransactionStatus.INTRANS
        assert not db_module.is_reading(db)
        db.execute(text("INSERT INTO t VALUES (3)"))
        db.rollback()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1]
    with readers() as db:
        db.execute(text("INSERT INTO t VALUES (4)"))
        db.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 4]


def test_a_lock_it_takes_is_held_to_its_end(engine: Engine) -> None:
    _, readers = _factories(engine)
    with readers() as db, engine.connect() as other:
        db.execute(text("SELECT n FROM t WHERE n = 1 FOR NO KEY UPDATE"))
        assert _server_state(db) == TransactionStatus.INTRANS
        with pytest.raises(OperationalError) as refused:
            other.execute(text("SELECT n FROM t WHERE n = 1 FOR UPDATE NOWAIT"))
        assert isinstance(refused.value.orig, LockNotAvailable)
        other.rollback()
        db.commit()
        assert other.execute(text("SELECT n FROM t WHERE n = 1 FOR UPDATE NOWAIT")).scalar() == 1
        other.rollback()


def test_its_connection_goes_back_to_the_pool_ready_for_a_writer(engine: Engine) -> None:
    writers, readers = _factories(engine)
    engine.pool.dispose()  # so that the reader's connection is the only one in the pool
    with readers() as db:
        db.execute(text("SELECT count(*) FROM t"))
        used = db.connection().connection.dbapi_connection
        db.commit()
    with writers() as db:
        assert db.connection().connection.dbapi_connection is used
        assert not used.autocommit
        db.execute(text("INSERT INTO t VALUES (2)"))
        db.execute(text("INSERT INTO t VALUES (3)"))
        db.rollback()
    with writers() as db:
        assert db.execute(text("SELECT n FROM t")).scalars().all() == [1]


def test_a_savepoint_before_any_write_opens_the_transaction(engine: Engine) -> None:
    _, readers = _factories(engine)
    with readers() as db:
        db.execute(text("SELECT count(*) FROM t"))
        with db.begin_nested() as nested:
            db.execute(text("INSERT INTO t VALUES (5)"))
            nested.rollback()
        db.execute(text("INSERT INTO t VALUES (6)"))
        db.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 6]


@pytest.mark.parametrize(("statement", "needs"), [
    ("SELECT patient.pk FROM patient WHERE patient.id = %(id)s", False),
    ("  insert INTO t VALUES (2)", True),
    ("UPDATE t SET n = 2", True),
    ("DELETE FROM t", True),
    ("SELECT t.n FROM t WHERE t.n = 1 FOR UPDATE", True),
    ("SELECT t.n FROM t for no key update", True),
    ("SELECT t.n FROM t FOR SHARE SKIP LOCKED", True),
    ("SELECT pg_advisory_xact_lock(%(key)s)", True),
    ("SELECT pg_try_advisory_xact_lock(%(key)s)", True),
    ("SAVEPOINT sa_savepoint_1", True),
    ("SELECT 'FORUPDATE' AS x, t.n FROM t WHERE t.n > %(n)s", False),
])
def test_what_opens_the_transaction_is_told_from_the_statement_text(statement: str,
                                                                      needs: bool) -> None:
    assert db_module.needs_transaction(statement) is needs
    assert db_module.needs_transaction(statement) is needs  # the remembered answer is the same


def test_a_write_of_one_statement_runs_outside_a_server_transaction(engine: Engine) -> None:
    # An audit group is one statement: it needs no BEGIN and COMMIT around it, and is stored
    # (seen by another connection) once it has run.
    *_, alone = db_module._factories(engine)
    with alone() as db:
        db.execute(text("INSERT INTO t VALUES (2)"))
        assert _server_state(db) == TransactionStatus.IDLE
        with engine.connect() as other:
            assert other.execute(text("SELECT count(*) FROM t WHERE n = 2")).scalar_one() == 1
        db.commit()
