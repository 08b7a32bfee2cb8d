"""Alembic environment: migrates the connection or URL handed in by ketaclinic.migrate."""

from alembic import context
from sqlalchemy import Connection

from ketaclinic.db import make_engine
from ketaclinic.model_registry import metadata

config = context.config


def run_migrations() -> None:
    """Run migrations on the given connection, or on a new engine for the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
