"""One seeded demo clinic (SQLite) shared by the demo tests of a run, seeded on a working morning."""

from collections.abc import Iterator
from datetime import datetime

import pytest
import time_machine
from sqlalchemy.orm import Session

from ketaclinic import db as dbmod
from ketaclinic import migrate
from ketaclinic.demo import seed as demo_seed
from tests.demo.moments import working_morning


@pytest.fixture(scope="session")
def seeded_at() -> datetime:
    """When the shared demo clinic was seeded."""
    return working_morning()


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory, seeded_at: datetime) -> Iterator[Session]:
    """A session on a freshly seeded 50-patient demo clinic (read it; do not change it)."""
    engine = dbmod.make_engine(f"sqlite:///{tmp_path_factory.mktemp('demo')}/demo.db")
    migrate.upgrade(engine)
    with Session(engine) as db:
        with time_machine.travel(seeded_at, tick=False):
            demo_seed.seed(db, patients_count=50)
        db.commit()
        yield db
    engine.dispose()
