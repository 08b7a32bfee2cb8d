"""PostgreSQL: many rows inserted by one statement whose text is the same for any number of rows,
each column that varies from row to row sent as one array and unnested into rows, each value
every row shares sent once beside them.

A multi-row `VALUES` list (SQLAlchemy's insertmanyvalues) has a parameter per value: its text
differs with the row count, so psycopg converts it anew at every execution (it keeps its
conversion of statements up to 50 parameters) and the server plans it anew. For a monitor
group of a hundred messages that conversion cost more than the insert. With an array a column
the statement is converted once and prepared once by the server."""

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, String, Table, insert
from sqlalchemy.dialects import postgresql

from ketaclinic.binary_arrays import packed

_POSTGRESQL = postgresql.dialect()


def unnest_of(table: Table, names: Sequence[str]) -> str:
    """SQL (psycopg's named parameters): `unnest(%(<name>)b::<type>[], ...)`, the rows of the
    columns' arrays. Text columns are cast as TEXT, not VARCHAR(n): a cast would cut a long
    value short unnoticed, where the insert into the column refuses it. The arrays travel in
    binary: psycopg writes a list in text with a quoting check on every item, five times
    slower (an audit group of eight events: 174 us against 35)."""
    return "unnest(" + ", ".join(f"%({name})b::{_kind(table, name)}[]" for name in names) + ")"


@cache
def _kind(table: Table, name: str) -> str:
    """The SQL type a column's values are cast to (TEXT for text columns, see `unnest_of`)."""
    kind = table.c[name].type
    return "TEXT" if isinstance(kind, String) else kind.compile(dialect=_POSTGRESQL)


def column_array(table: Table, name: str, values: list[Any]) -> Any:
    """A column's values (converted already) as `insert_statement` sends an array: packed in
    PostgreSQL's binary format where `binary_arrays` packs the column's type, else the list."""
    return packed(_kind(table, name), values)


# A statement made around an insert's text (`insert_arrays`' `feeding`).
Feeding = Callable[[str], str]


@cache
def insert_statement(table: Table, names: tuple[str, ...], shared: tuple[str, ...] = (),
                     returning: tuple[str, ...] = (), feeding: Feeding | None = None) -> str:
    """SQL (psycopg's named parameters) inserting the rows of the columns `names`, each an
    array, with the columns `shared`, each one value for every row (`insert_arrays`)."""
    quote = _POSTGRESQL.identifier_preparer.quote
    returned = f" RETURNING {', '.join(quote(name) for name in returning)}" if returning else ""
    # The values every row shares go once each, beside the unnested arrays, not as arrays of
    # one value repeated: the driver dumps and the server unnests only the columns that vary.
    chosen = "".join(f", %({name})b::{_kind(table, name)}" for name in shared)
    # Identifiers come from the table's own metadata, quoted; values travel as parameters.
    statement = (f"INSERT INTO {quote(table.name)} "  # noqa: S608
                 f"({', '.join(quote(n) for n in (*names, *shared))}) "
                 f"SELECT unnested.*{chosen} FROM {unnest_of(table, names)} AS unnested{returned}")
    return feeding(statement) if feeding else statement


def insert_arrays(connection: Connection, table: Table, columns: Mapping[str, Sequence[Any]],
                  returning: Sequence[str] = (), constants: dict[str, Any] | None = None,
                  feeding: Feeding | None = None) -> list[Any]:
    """Insert rows given column by column (each list one value per row) on PostgreSQL, with the
    values every row shares (`constants`, converted once), values converted by their columns'
    types and scalar column defaults filled in, as a Core insert would; the `returning` columns
    of the rows inserted, in no promised order. With `feeding`, the statement run is the one it
    makes of the insert's text (the insert as a CTE feeding another write, say) and its rows
    are what is returned."""
    given = dict(columns)
    shared = dict(constants or {})
    for column in table.columns:
        default = column.default
        if (column.name not in given and column.name not in shared and default is not None
                and default.is_scalar):
            shared[column.name] = getattr(default, "arg", None)
    dialect = connection.dialect
    parameters: dict[str, Any] = {}
    for name, values in given.items():
        convert = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        parameters[name] = column_array(table, name,
                                        [convert(v) for v in values] if convert else list(values))
    for name, value in shared.items():
        convert = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        parameters[name] = convert(value) if convert else value
    result = connection.exec_driver_sql(
        insert_statement(table, tuple(given), tuple(shared), tuple(returning), feeding),
        parameters)
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
