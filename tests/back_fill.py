"""A derived table's migration back-fill, checked the same way for each: what the writes kept in
the table, and what the migration fills in again after going back to the revision before it."""

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaclinic import migrate

Kept = TypeVar("Kept")


def kept_and_refilled(engine: Engine, revision: str, read: Callable[[Session], Kept]
                      ) -> tuple[Kept, Kept]:
    """What `read` finds now, and again after a downgrade to `revision` and an upgrade."""
    with Session(engine) as db:
        kept = read(db)
    migrate.downgrade(engine, revision)
    migrate.upgrade(engine)
    with Session(engine) as db:
        filled = read(db)
    return kept, filled
