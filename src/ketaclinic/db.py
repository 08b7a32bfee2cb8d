"""Database engine, sessions, the declarative base and shared column types."""

import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, TypeVar, cast

from psycopg.pq import TransactionStatus
from pydantic import TypeAdapter
from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Uuid,
    any_,
    bindparam,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from ketaclinic import clock, wal_checkpoints
from ketaclinic.array_inserts import insert_arrays
from ketaclinic.errors import NotFound, public_id
from ketaclinic.pool_checks import ping_idle_connections
from ketaclinic.settings import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class TypedJSON(TypeDecorator[Any]):
    """A frozen dataclass stored as JSON and read back validated into that dataclass, so no
    caller reads a clinical record as a loose dict (a stored value that no longer fits fails
    loudly rather than being half read)."""

    impl = JSON
    cache_ok = True

    def __init__(self, kind: type) -> None:
        super().__init__()
        self.kind = kind
        self._adapter: TypeAdapter[Any] = TypeAdapter(kind)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """The value as JSON-ready data, leaving out what does not apply (None)."""
        if value is None:
            return None
        if not isinstance(value, self.kind):
            raise TypeError(f"expected {self.kind.__name__}, not {type(value).__name__}")
        return self._adapter.dump_python(value, mode="json", exclude_none=True)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """The stored JSON validated into the dataclass."""
        return None if value is None else self._adapter.validate_python(value)


class Base(DeclarativeBase):
    """Declarative base with the project's naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# The key of a table written at every reading or monitor message, and of the columns pointing at
# it: 64-bit on PostgreSQL, where a 32-bit key (2,147,483,647) runs out after about 500 ten-hour
# days of a network's monitors at their peak. SQLite's integer primary key is its rowid, already
# 64-bit, and must stay declared INTEGER to remain the rowid.
WIDE_KEY = BigInteger().with_variant(Integer, "sqlite")


class RecordMixin:
    """Columns every table carries: integer key, public UUID, timestamps, author."""

    pk: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=clock.now, onupdate=clock.now, nullable=False
    )
    created_by: Mapped[str] = mapped_column(String(150), default="system", nullable=False)


SQLITE_BUSY_TIMEOUT_S = 10.0
# The server's request threads (anyio's default limit, 40) and its own background writers.
SQLITE_POOL_SIZE = 48
HOLDS_TURN = "ketaclinic.holds_write_turn"
# Execution option of the engine that read-first transactions use (see `reader_session_factory`).
READ_FIRST = "ketaclinic_read_first"
READING = "ketaclinic.reading"
UPGRADED = "ketaclinic.upgraded"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
# What needs a transaction though it writes nothing: a read that locks (rows, or an advisory
# lock held to the transaction's end), or a savepoint.
_LOCKS = re.compile(r"\bFOR (?:NO KEY UPDATE|UPDATE|KEY SHARE|SHARE)\b|_xact_lock\(|^\s*SAVEPOINT\b",
                    re.I)


def is_write(statement: str) -> bool:
    """Whether a SQL statement changes data (what ends a transaction's reading)."""
    return statement.lstrip()[:7].upper().startswith(_WRITES)


# Statement texts whose need of a transaction is remembered: the same few hundred texts come
# back request after request (compiled once and cached), and searching a long one for a lock
# clause costs more than running a short query.
STATEMENTS_CLASSIFIED = 2048


@lru_cache(maxsize=STATEMENTS_CLASSIFIED)
def needs_transaction(statement: str) -> bool:
    """Whether a statement must run inside a transaction: it writes, locks (rows, or an advisory
    lock held to the transaction's end) or opens a savepoint."""
    return is_write(statement) or _LOCKS.search(statement) is not None


class ReadBecameStale(Exception):
    """A read-first transaction (SQLite) began to write after another writer had committed, so it
    cannot take the write lock over what it read: the work is to be run again as a writer."""


def _configure_sqlite(engine: Engine) -> None:
    """WAL with full fsync so an acknowledged commit survives a crash; serialise writers; let
    readers read without a lock."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN so that it can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        for pragma in wal_checkpoints.connection_pragmas(engine):
            cursor.execute(pragma)
        cursor.close()

    # SQLite lets one transaction write at a time, and its waiters poll: under load an unlucky
    # one can lose every race until its busy timeout ends. This process's writers queue on
    # a lock instead (the server is one process on SQLite), so each waits its turn; other
    # processes (the worker, the monitor listener) still meet at SQLite's own lock. Writing
    # requests queue before they start, on the event loop (web/deps.py), so the ones waiting
    # here are the server's own background writers and at most one request.
    turn = threading.Lock()

    def _take_turn(conn: Any) -> None:
        if not turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
            raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError(
                "database is locked (waited for this process's other transactions)"))
        conn.info[HOLDS_TURN] = True

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_FIRST):
            # A snapshot to read from and no lock: readers wait neither for writers nor for
            # each other; the first write takes the turn (below).
            conn.exec_driver_sql("BEGIN DEFERRED")
            conn.info[READING] = True
            return
        _take_turn(conn)
        try:
            # IMMEDIATE takes the write lock up front, so what a writer reads is what it
            # writes over (a deferred one could find its snapshot stale at its first write).
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _end_turn(conn)
            raise

    @event.listens_for(engine, "before_cursor_execute")
    def _upgrade_on_first_write(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if conn.info.get(READING) and is_write(statement):
            conn.info[READING] = False
            # A read never waits for the turn: it waits in a request thread, and the writer
            # holding the turn may need a request thread to finish (FastAPI checks a response
            # in one before the commit); with every thread waiting, none would come free.
            # Run again as a writer, the request waits its turn on the event loop instead.
            if not turn.acquire(blocking=False):
                raise ReadBecameStale("another transaction is writing; this read that began to "
                                      "write is run again as a writer")
            conn.info[HOLDS_TURN] = True
            conn.info[UPGRADED] = True

    @event.listens_for(engine, "handle_error")
    def _stale_read(context: Any) -> BaseException | None:
        conn = context.connection
        original = context.original_exception
        if (conn is not None and conn.info.get(UPGRADED)
                and isinstance(original, sqlite3.OperationalError) and "locked" in str(original)):
            return ReadBecameStale("another writer committed after this transaction began to "
                                   "read; it is run again as a writer")
        return None

    def _end_turn_of(info: dict[Any, Any]) -> None:
        info.pop(READING, None)
        info.pop(UPGRADED, None)
        if info.pop(HOLDS_TURN, False):
            turn.release()

    def _end_turn(conn: Any) -> None:
        # An invalidated connection's info cannot be read (SQLAlchemy refuses until the
        # rollback); its turn ended when it was invalidated (below).
        if not conn.invalidated:
            _end_turn_of(conn.info)

    event.listen(engine, "commit", _end_turn)
    event.listen(engine, "rollback", _end_turn)

    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        # A connection given back to the pool mid-transaction is rolled back there, out of
        # sight of the events above: its turn ends too.
        _end_turn_of(connection_record.info)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(dbapi_connection: Any, connection_record: Any, exception: Any) -> None:
        # A connection dropped mid-transaction (its file closed under it, say) is closed, not
        # rolled back: without this its turn would never end, and every later writer in the
        # process would time out waiting for it.
        _end_turn_of(connection_record.info)


def one_writer_at_a_time() -> bool:
    """Whether the database lets one transaction write at a time (SQLite), so that writers are
    better queued before they start than inside it."""
    return get_engine().dialect.name == "sqlite"


def column_rows(db: Session, statement: Any, params: dict[str, Any] | None = None) -> Any:
    """The result of a statement of columns (no records) run on the session's connection, its
    pending changes flushed first as the session's own `execute` would: that path sets up
    record loading a statement of columns does not use, about 50 us a statement."""
    if db.autoflush:
        db.flush()
    return db.connection().execute(statement, params)


def one_of(column: Any, name: str, dialect: str, value: Any = None) -> Any:
    """SQL: the column holds one of the list bound as `name` (given here or at each run). On
    PostgreSQL `= ANY` of one array parameter: the statement's text is the same for any length
    of list, so a kept statement runs from its plan (`kept_rows`), and the driver converts one
    array rather than a parameter an item; elsewhere the list is expanded into the statement."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, value, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, value, expanding=True))


def is_reading(db: Session) -> bool:
    """Whether the session's transaction started as a reader (`reader_session_factory`) and has
    only read so far."""
    return bool(db.connection().info.get(READING))


def make_engine(url: str | None = None) -> Engine:
    """An engine for the URL (default: settings), configured for durability."""
    url = url or get_settings().database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        # App threads share pooled connections; each is used by one thread at a time. Enough
        # are kept for every request thread, and none is opened beyond them: one opened for a
        # request and closed after would cost more than the read.
        # No ping on checkout: a local file does not drop connections as a network does.
        engine = create_engine(url, pool_size=SQLITE_POOL_SIZE, max_overflow=0,
                               connect_args={"check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    settings = get_settings()
    # A fixed pool by default (no overflow): a connection opened beyond the pool is closed when
    # given back while the pool is full, and under steady load that is a new PostgreSQL server
    # process for nearly every request (16 clients on a pool of 10 halved the audited read).
    engine = create_engine(url, pool_size=settings.db_pool_size,
                           max_overflow=settings.db_max_overflow,
                           connect_args={"options": "-c statement_timeout="
                                                    f"{settings.db_statement_timeout_ms}"})
    _track_reading(engine)
    ping_idle_connections(engine)  # not every checkout, as pool_pre_ping would
    return engine


def _track_reading(engine: Engine) -> None:
    """PostgreSQL: note whether a read-first transaction has written yet (its readers need no
    lock, but a transaction that only read can leave its audit events to a group commit), and
    start its server transaction there.

    A read-first session's connection runs in autocommit (`_factories`) until then: under READ
    COMMITTED each statement reads its own snapshot in a transaction or out of one, so a
    request that only reads is spared the BEGIN and COMMIT round trips. Its first write, first
    lock (`SELECT ... FOR UPDATE`, a transaction's advisory lock) or savepoint opens the transaction
    that the session's commit or rollback ends, so its writes stay all or nothing and its locks
    are held to the end."""

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_FIRST):
            conn.info[READING] = True

    @event.listens_for(engine, "before_cursor_execute")
    def _first_write(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if conn.info.get(READING) and needs_transaction(statement):
            conn.info[READING] = False
            driver = cursor.connection
            if driver.autocommit and driver.info.transaction_status == TransactionStatus.IDLE:
                driver.execute("BEGIN")

    def _end(conn: Any) -> None:
        # A connection lost mid-request is invalidated, and its info is cleared when the pool
        # connects again; reading it here would refuse the very rollback that ends the request.
        if not conn.invalidated:
            conn.info.pop(READING, None)

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)

    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi_connection: Any, connection_record: Any, _reset_state: Any) -> None:
        connection_record.info.pop(READING, None)


_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None
_reader_factory: sessionmaker[Session] | None = None
_alone_factory: sessionmaker[Session] | None = None
# The engine's own factories: for a unit of work, a reader, and a write of one statement.
_own_factories: tuple[sessionmaker[Session], sessionmaker[Session], sessionmaker[Session]] | None \
    = None


def _factories(engine: Engine
               ) -> tuple[sessionmaker[Session], sessionmaker[Session], sessionmaker[Session]]:
    global _own_factories
    reader = engine.execution_options(**{READ_FIRST: True})
    work = sessionmaker(bind=engine, expire_on_commit=False)
    alone = work
    if engine.dialect.name == "postgresql":
        # no BEGIN or COMMIT until the first write (see `_track_reading`)
        reader = reader.execution_options(isolation_level="AUTOCOMMIT")
        # a statement outside a transaction is atomic and durable alone
        alone = sessionmaker(bind=engine.execution_options(isolation_level="AUTOCOMMIT"),
                             expire_on_commit=False)
    _own_factories = (work, sessionmaker(bind=reader, expire_on_commit=False), alone)
    return _own_factories


def get_engine() -> Engine:
    """The process-wide engine."""
    global _engine, _session_factory, _reader_factory, _alone_factory
    if _engine is None:
        _engine = make_engine()
        _session_factory, _reader_factory, _alone_factory = _factories(_engine)
    return _engine


def set_engine(engine: Engine) -> None:
    """Replace the process-wide engine (tests and the CLI's --database option)."""
    global _engine, _session_factory, _reader_factory, _alone_factory
    _engine = engine
    _session_factory, _reader_factory, _alone_factory = _factories(engine)


def use_session_factory(factory: sessionmaker[Session]) -> sessionmaker[Session] | None:
    """Make every unit of work use this factory (tests bind it to one rolled-back transaction)."""
    global _session_factory, _reader_factory, _alone_factory
    get_engine()
    previous, _session_factory = _session_factory, factory
    own = _own_factories
    _reader_factory = own[1] if own is not None and factory is own[0] else factory
    _alone_factory = own[2] if own is not None and factory is own[0] else factory
    return previous


def session_factory() -> sessionmaker[Session]:
    """The sessionmaker bound to the process-wide engine."""
    get_engine()
    assert _session_factory is not None
    return _session_factory


def alone_session_factory() -> sessionmaker[Session]:
    """Sessions for a write that is one statement: on PostgreSQL it runs outside a transaction
    (atomic and durable alone, without the BEGIN and COMMIT round trips); elsewhere, or while
    the unit of work is bound to one transaction (`use_session_factory`), as `session_factory`."""
    get_engine()
    assert _alone_factory is not None
    return _alone_factory


def reader_session_factory() -> sessionmaker[Session]:
    """Sessions whose transactions start by reading: on SQLite they take no lock until their
    first write (PostgreSQL's transactions never do)."""
    get_engine()
    assert _reader_factory is not None
    return _reader_factory


KEPT_AFTER_ROLLBACK = "kept_after_rollback"


def keep_after_rollback(db: Session, write: Callable[[Session], None]) -> None:
    """Make a write survive the rollback of the work it belongs to: if `db` is rolled back, the
    write runs again in a transaction of its own (a failed login still counts, and is audited,
    when the request that carried it is refused and rolled back)."""
    db.info.setdefault(KEPT_AFTER_ROLLBACK, []).append(write)


@event.listens_for(Session, "after_commit")
def _forget_kept_writes(db: Session) -> None:
    db.info.pop(KEPT_AFTER_ROLLBACK, None)


@event.listens_for(Session, "after_soft_rollback")
def _redo_kept_writes(db: Session, previous: Any) -> None:
    if previous.parent is not None or not db.info.get(KEPT_AFTER_ROLLBACK):
        return
    writes = db.info.pop(KEPT_AFTER_ROLLBACK)
    with session_factory()() as own:
        for write in writes:
            write(own)
        own.commit()


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A db session that commits on success and rolls back on error."""
    db = session_factory()()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


RecordT = TypeVar("RecordT")


def by_public_id(db: Session, model: type[RecordT], record_id: object, what: str, *,
                 site_pks: AbstractSet[int] | None = None, **equal: object) -> RecordT:
    """The row of `model` with this public id (and these column values, and at one of these
    sites when given), or NotFound("no such <what>"): a record out of reach is not found."""
    statement = _by_public_id_statement(cast(Hashable, model), tuple(sorted(equal)))
    found: RecordT | None = db.execute(statement, {"public_id": public_id(record_id, what),
                                   **{f"equal_{k}": v for k, v in equal.items()}}
                       ).scalar_one_or_none()
    if found is None or (site_pks is not None
                         and found.site_pk not in site_pks):  # type: ignore[attr-defined]
        raise NotFound(f"no such {what}")
    return found


@cache
def _by_public_id_statement(model: Any, columns: tuple[str, ...]) -> Select[Any]:
    # Built once per model and filter: building a statement and its cache key costs about as
    # much as running a lookup by key.
    return select(model).where(model.id == bindparam("public_id"),
                               *(getattr(model, c) == bindparam(f"equal_{c}") for c in columns))


def reachable(db: Session) -> None:
    """Check the database answers (raises when it does not)."""
    db.execute(text("SELECT 1"))


def insert_many(connection: Connection, table: Table, rows: Sequence[dict[str, Any]],
                constants: dict[str, Any]) -> None:
    """Insert rows (dicts with the same keys) as `insert_columns` does (one statement of arrays
    on PostgreSQL, the driver's executemany elsewhere)."""
    if rows:
        insert_columns(connection, table, {name: [row[name] for row in rows] for name in rows[0]},
                       constants)


def insert_columns(connection: Connection, table: Table, columns: Mapping[str, Sequence[Any]],
                   constants: dict[str, Any]) -> None:
    """Insert rows given column by column (each list one value per row): on PostgreSQL as one
    statement of an array a column (`array_inserts`), elsewhere through the driver's
    executemany; each column's type conversion runs over the column, and the values every row
    shares (``constants``) are converted once.

    This is the ingestion path for large batches (monitor readings); the ORM's per-parameter
    processing would otherwise cost several times the insert itself. On PostgreSQL the driver's
    executemany sends and runs a statement a row, which cost a fifth of a server's time under
    batches of readings.
    """
    if not columns or not next(iter(columns.values())):
        return
    dialect = connection.dialect
    if dialect.name == "postgresql":
        insert_arrays(connection, table, columns, constants=constants)
        return
    names = [*constants, *columns]

    def processor(name: str) -> Any:
        return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

    fixed = tuple(convert(value) if (convert := processor(name)) else value
                  for name, value in constants.items())
    converted = [[convert(v) for v in values] if (convert := processor(name)) else values
                 for name, values in columns.items()]
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    # Identifiers come from the table's own metadata, quoted; values travel as parameters.
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608
           f"VALUES ({', '.join([mark] * len(names))})")
    connection.exec_driver_sql(sql, [fixed + values for values in zip(*converted, strict=True)])
