"""PostgreSQL: many rows inserted by one statement whose text is the same for any number of rows,
each column sent as one array and unnested into rows.

A multi-row `VALUES` list (SQLAlchemy's insertmanyvalues) has a parameter per value: its text
differs with the row count, so psycopg converts it anew at every execution (it keeps its
conversion of statements up to 50 parameters) and the server plans it anew. For a monitor
group of a hundred messages that conversion cost more than the insert. With an array a column
the statement is converted once and prepared once by the server."""

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, String, Table, insert
from sqlalchemy.dialects import postgresql

_POSTGRESQL = postgresql.dialect()


def unnest_of(table: Table, names: Sequence[str]) -> str:
    """SQL (psycopg's named parameters): `unnest(%(<name>)b::<type>[], ...)`, the rows of the
    columns' arrays. Text columns are cast as TEXT, not VARCHAR(n): a cast would cut a long
    value short unnoticed, where the insert into the column refuses it. The arrays travel in
    binary: psycopg writes a list in text with a quoting check on every item, five times
    slower (an audit group of eight events: 174 us against 35)."""
    kinds = {name: "TEXT" if isinstance(table.c[name].type, String)
             else table.c[name].type.compile(dialect=_POSTGRESQL) for name in names}
    return "unnest(" + ", ".join(f"%({name})b::{kinds[name]}[]" for name in names) + ")"


# A statement made around an insert's text (`insert_arrays`' `feeding`).
Feeding = Callable[[str], str]


@cache
def _statement(table: Table, names: tuple[str, ...], returning: tuple[str, ...],
               feeding: Feeding | None) -> str:
    quote = _POSTGRESQL.identifier_preparer.quote
    returned = f" RETURNING {', '.join(quote(name) for name in returning)}" if returning else ""
    # Identifiers come from the table's own metadata, quoted; values travel as parameters.
    statement = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608
                 f"SELECT * FROM {unnest_of(table, names)}{returned}")
    return feeding(statement) if feeding else statement


def insert_arrays(connection: Connection, table: Table, columns: dict[str, Sequence[Any]],
                  returning: Sequence[str] = (), constants: dict[str, Any] | None = None,
                  feeding: Feeding | None = None) -> list[Any]:
    """Insert rows given column by column (each list one value per row) on PostgreSQL, with the
    values every row shares (`constants`, converted once), values converted by their columns'
    types and scalar column defaults filled in, as a Core insert would; the `returning` columns
    of the rows inserted, in no promised order. With `feeding`, the statement run is the one it
    makes of the insert's text (the insert as a CTE feeding another write, say) and its rows
    are what is returned."""
    count = len(next(iter(columns.values())))
    given = dict(columns)
    shared = dict(constants or {})
    for column in table.columns:
        default = column.default
        if (column.name not in given and column.name not in shared and default is not None
                and default.is_scalar):
            shared[column.name] = getattr(default, "arg", None)
    dialect = connection.dialect
    arrays: dict[str, Any] = {}
    for name, value in shared.items():
        convert = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        arrays[name] = [convert(value) if convert else value] * count
    for name, values in given.items():
        convert = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        arrays[name] = [convert(v) for v in values] if convert else list(values)
    result = connection.exec_driver_sql(
        _statement(table, tuple(arrays), tuple(returning), feeding), arrays)
    return list(result.all()) if result.returns_rows else []


def insert_rows(connection: Connection, table: Table, rows: Sequence[dict[str, Any]],
                returning: Sequence[str] = ()) -> list[Any]:
    """Insert rows (each a dict of the same columns) in one statement: as arrays on PostgreSQL
    (`insert_arrays`), elsewhere as a Core insert of the rows; the `returning` columns of the
    rows inserted, in no promised order."""
    if connection.dialect.name == "postgresql":
        return insert_arrays(connection, table, {name: [row[name] for row in rows]
                                                 for name in rows[0]}, returning)
    statement = insert(table)
    if not returning:
        connection.execute(statement, list(rows))
        return []
    return list(connection.execute(statement.returning(
        *[table.c[name] for name in returning], sort_by_parameter_order=True), list(rows)).all())
