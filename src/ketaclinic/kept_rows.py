"""The rows of a statement kept for reuse, run on the driver's cursor with SQLAlchemy's work done
once for the statement rather than at every run.

SQLAlchemy sets up each execution anew: the statement's cache key and a look-up of its compiled
form, an execution context, a cursor result with its metadata. On PostgreSQL that is about
0.1 ms of the 0.17 ms of client work a short read costs (psycopg's own part is the rest), as
much as the database spends on it. A statement the code keeps (a module constant, or one cached
per search shape) is compiled here once per dialect; each run binds its values with the same
converters SQLAlchemy would use, runs the compiled text on the session's connection, and converts
the columns as SQLAlchemy would. The engine's cursor events still see the statement (they mark
a read-first transaction's first write and let tests watch the SQL), and a driver error goes
through SQLAlchemy's own handling (wrapped, the connection invalidated when lost).

Only plain SELECTs with fixed parameters take this path, and text statements kept for reuse
that return no rows (`kept_write`: the audit events a write inserts); anything else (a list
expanded into its parameters at run time, a lock, a name that needs escaping) runs through
SQLAlchemy as before."""

import weakref
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, Select, TextClause
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from ketaclinic.db import column_rows


@dataclass
class _Plan:
    """A statement compiled for one dialect, with its parameters' converters; its columns'
    converters and its rows' type are found at the first run, from the cursor's description."""

    compiled: SQLCompiler
    binds: dict[str, Callable[[Any], Any]]  # converter of each parameter that has one
    positions: tuple[str, ...] | None  # the parameters' order, for a positional driver
    columns: tuple[Any, ...]  # each column's SQLAlchemy type
    converters: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None
    row: Any = None


# Plans by statement (weakly: a statement no longer kept takes its plans with it), by dialect.
_PLANS: weakref.WeakKeyDictionary[Any, dict[str, _Plan | None]] = weakref.WeakKeyDictionary()


def kept_rows(db: Session, statement: Any, params: dict[str, Any] | None = None
              ) -> Sequence[Any]:
    """The rows of a SELECT of columns kept for reuse (a module constant or a cached statement,
    never one built for this call), run on the session's connection after its pending changes
    are flushed, as `column_rows` would; each row a named tuple of the statement's columns."""
    if db.autoflush:
        db.flush()
    connection = db.connection()
    plan = _plan(statement, connection.dialect) if isinstance(statement, Select) else None
    values = None if plan is None else _values(plan, params or {})
    if plan is None or values is None:  # not covered, or refused: as SQLAlchemy refuses it
        return column_rows(db, statement, params).all()
    return _run(connection, plan, values)


def kept_rows_together(db: Session, runs: Sequence[tuple[Any, dict[str, Any]]]
                       ) -> list[Sequence[Any]]:
    """The rows of each of these statements kept for reuse with its values, as `kept_rows`
    gives them. On PostgreSQL they are all sent before the first answer is awaited (the
    driver's pipeline): one round trip rather than one a statement, which under load is a
    thread's wait and hand-over as much as the server's work. Elsewhere, or where one is not
    covered, they run one after another."""
    if len(runs) < 2:  # nothing to send together
        return [kept_rows(db, statement, params) for statement, params in runs]
    if db.autoflush:
        db.flush()
    connection = db.connection()
    planned: list[tuple[_Plan, Any]] = []
    for statement, params in runs:
        plan = _plan(statement, connection.dialect) if isinstance(statement, Select) else None
        values = None if plan is None else _values(plan, params)
        if plan is None or values is None:
            planned = []
            break
        planned.append((plan, values))
    driver = connection.connection.dbapi_connection
    if len(planned) < 2 or not isinstance(driver, psycopg.Connection) \
            or not psycopg.Pipeline.is_supported():
        return [kept_rows(db, statement, params) for statement, params in runs]
    cursors: list[Any] = []
    try:
        with driver.pipeline():
            for plan, values in planned:
                cursors.append(driver.cursor())
                _execute(connection, cursors[-1], plan, values)
        return [_rows(plan, connection.dialect, cursor)
                for (plan, _), cursor in zip(planned, cursors, strict=True)]
    except connection.dialect.loaded_dbapi.Error as error:
        # wrapped as SQLAlchemy wraps it (naming the first statement), a lost connection
        # invalidated
        plan, values = planned[0]
        connection._handle_dbapi_exception(error, plan.compiled.string, values,
                                           cursors[0] if cursors else None, None)
        raise  # not reached: the handling raises
    finally:
        for cursor in cursors:
            cursor.close()


def kept_write(connection: Connection, statement: TextClause, params: dict[str, Any]) -> None:
    """Run a text statement kept for reuse that returns no rows (an insert the code keeps, as a
    module constant or cached per shape), with its values bound as SQLAlchemy would bind them,
    on the connection's driver cursor from a plan made once; through SQLAlchemy where its plan
    cannot be kept."""
    plan = _plan(statement, connection.dialect)
    values = None if plan is None else _values(plan, params)
    if plan is None or values is None:
        connection.execute(statement, params)
        return
    _run(connection, plan, values, returns_rows=False)


def _plan(statement: Any, dialect: Dialect) -> _Plan | None:
    by_dialect = _PLANS.get(statement)
    if by_dialect is None:
        by_dialect = _PLANS.setdefault(statement, {})
    if dialect.name not in by_dialect:
        by_dialect[dialect.name] = _compile(statement, dialect)
    return by_dialect[dialect.name]


def _compile(statement: Any, dialect: Dialect) -> _Plan | None:
    selecting = isinstance(statement, Select) and statement._for_update_arg is None
    if not selecting and not isinstance(statement, TextClause):
        return None
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    if (compiled.post_compile_params or compiled.literal_execute_params
            or compiled.escaped_bind_names):
        return None
    binds: dict[str, Callable[[Any], Any]] = {}
    for bind, name in compiled.bind_names.items():
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            binds[name] = convert
    positions = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup \
        else None
    return _Plan(compiled, binds, positions,
                 tuple(column.type for column in statement.selected_columns) if selecting else ())


def _values(plan: _Plan, params: dict[str, Any]) -> Any:
    """The values to run the statement with, converted for the driver; None if a value is
    missing."""
    try:
        values = plan.compiled.construct_params(params)
    except InvalidRequestError:
        return None
    assert values is not None
    for name, convert in plan.binds.items():
        values[name] = convert(values[name])
    return values if plan.positions is None else [values[n] for n in plan.positions]


def _run(connection: Connection, plan: _Plan, arguments: Any, returns_rows: bool = True
         ) -> list[Any]:
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        _execute(connection, cursor, plan, arguments)
        return _rows(plan, connection.dialect, cursor) if returns_rows else []
    except connection.dialect.loaded_dbapi.Error as error:
        # wrapped as SQLAlchemy wraps it, its error events run, a lost connection invalidated
        connection._handle_dbapi_exception(error, plan.compiled.string, arguments, cursor, None)
        raise  # not reached: the handling raises
    finally:
        cursor.close()


def _execute(connection: Connection, cursor: Any, plan: _Plan, arguments: Any) -> None:
    """Run the plan's statement on the cursor, the engine's cursor events seeing it."""
    sql = plan.compiled.string
    connection.dispatch.before_cursor_execute(connection, cursor, sql, arguments, None, False)
    cursor.execute(sql, arguments)
    connection.dispatch.after_cursor_execute(connection, cursor, sql, arguments, None, False)


def _rows(plan: _Plan, dialect: Dialect, cursor: Any) -> list[Any]:
    """The cursor's rows as the plan's named tuples, their columns converted as SQLAlchemy
    would convert them."""
    if plan.row is None:
        _describe(plan, dialect, cursor.description)
    fetched = cursor.fetchall()
    make = plan.row._make
    if not plan.converters:
        return [make(row) for row in fetched]
    converted = []
    for row in fetched:
        items = list(row)
        for position, convert in plan.converters:
            items[position] = convert(items[position])
        converted.append(make(items))
    return converted


def _describe(plan: _Plan, dialect: Dialect, description: Sequence[Any]) -> None:
    """The columns' converters (a driver type code picks some, as for PostgreSQL's numbers)
    and the rows' type, named as the cursor names the columns, which are SQLAlchemy's keys."""
    converters = []
    for position, (kind, described) in enumerate(zip(plan.columns, description, strict=True)):
        convert = kind.dialect_impl(dialect).result_processor(dialect, described[1])
        if convert is not None:
            converters.append((position, convert))
    plan.converters = tuple(converters)  # before the row type: a run that sees it sees them
    plan.row = namedtuple("KeptRow", [d[0] for d in description], rename=True)  # type: ignore[misc]
