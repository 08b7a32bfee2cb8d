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

Only plain SELECTs with fixed parameters take this path; anything else (a list expanded into
its parameters at run time, a lock, a name that needs escaping) runs through SQLAlchemy as
before."""

import weakref
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select
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
    plan = _plan(statement, connection.dialect)
    values = None if plan is None else _values(plan, params or {})
    if plan is None or values is None:  # not covered, or refused: as SQLAlchemy refuses it
        return column_rows(db, statement, params).all()
    return _run(connection, plan, values)


def _plan(statement: Any, dialect: Dialect) -> _Plan | None:
    by_dialect = _PLANS.get(statement)
    if by_dialect is None:
        by_dialect = _PLANS.setdefault(statement, {})
    if dialect.name not in by_dialect:
        by_dialect[dialect.name] = _compile(statement, dialect)
    return by_dialect[dialect.name]


def _compile(statement: Any, dialect: Dialect) -> _Plan | None:
    if not isinstance(statement, Select) or statement._for_update_arg is not None:
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
                 tuple(column.type for column in statement.selected_columns))


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


def _run(connection: Connection, plan: _Plan, arguments: Any) -> list[Any]:
    sql = plan.compiled.string
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        connection.dispatch.before_cursor_execute(connection, cursor, sql, arguments, None,
                                                  False)
        cursor.execute(sql, arguments)
        connection.dispatch.after_cursor_execute(connection, cursor, sql, arguments, None,
                                                 False)
        if plan.row is None:
            _describe(plan, connection.dialect, cursor.description)
        fetched = cursor.fetchall()
    except connection.dialect.loaded_dbapi.Error as error:
        # wrapped as SQLAlchemy wraps it, its error events run, a lost connection invalidated
        connection._handle_dbapi_exception(error, sql, arguments, cursor, None)
    finally:
        cursor.close()
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
