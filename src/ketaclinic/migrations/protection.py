"""Triggers that make the database refuse DELETE on records that must stay on the record, for
PostgreSQL (the shared clinical_rows_never_deleted() function) and SQLite."""

from collections.abc import Sequence

from alembic import op


def refuse_delete(tables: Sequence[str]) -> None:
    """Add a no-delete trigger to each table."""
    for table in tables:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION clinical_rows_never_deleted()")
        else:
            op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
                       f"SELECT RAISE(ABORT, '{table} rows are never deleted'); END")


def allow_delete(tables: Sequence[str]) -> None:
    """Drop the no-delete triggers again (downgrade)."""
    for table in tables:
        suffix = f" ON {table}" if op.get_bind().dialect.name == "postgresql" else ""
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete{suffix}")
