"""Applying the Alembic migrations to a database."""

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
    engine = target or get_engine()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(target: Engine, revision: str = "base") -> None:
    """Migrate the database down to `revision` (default: empty)."""
    config = alembic_config()
    with target.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
