"""One seeded demo clinic (SQLite) shared by the demo tests of a run."""

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from ketaclinic import db as dbmod
from ketaclinic import migrate
from ketaclinic.demo import seed as demo_seed


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """A session on a freshly seeded 50-patient demo clinic (read it; do not change it)."""
    engine = dbmod.make_engine(f"sqlite:///{tmp_path_factory.mktemp('demo')}/demo.db")
    migrate.upgrade(engine)
    with Session(engine) as db:
        demo_seed.seed(db, patients_count=50)
        db.commit()
        yield db
    engine.dispose()
