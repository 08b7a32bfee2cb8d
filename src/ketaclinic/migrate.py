"""Applying the Alembic migrations to a database."""

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

from ketaclinic.db import get_engine


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("ketaclinic") / "migrations"))
    config.set_main_option(
        "file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s"
    )
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(target: Engine | Connection | None = None, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the latest)."""
    config = alembic_config()
    if isinstance(target, Connection):
        config.attributes["connection"] = target
        command.upgrade(config, revision)
        return
    with _migrating(target or get_engine()) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(target: Engine, revision: str = "base") -> None:
    """Migrate the database down to `revision` (default: empty)."""
    config = alembic_config()
    with _migrating(target) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One transaction for the whole migration. SQLite changes a table's columns or foreign keys
    by rebuilding it while other rows point at it, so there foreign keys are off while the
    migration runs (SQLite can only switch them outside a transaction) and every row is checked
    before it commits."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"the migration leaves rows pointing at nothing "
                                           f"(table, row, parent): {broken[:5]}")
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
