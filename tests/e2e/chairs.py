"""A chair of a browser test's own: the demo clinic, seeded at the hour the tests start, has a
session under way at whichever chair its schedule has in use then, so a test that checked in
at a named demo chair passed or failed by the hour."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Chair, Site
from ketaclinic.db import make_engine


def chair_of_its_own(database_url: str, site_code: str, name: str) -> str:
    """Add a chair to the demo site for one test; its name."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as db:
            site = db.execute(select(Site).where(Site.code == site_code)).scalar_one()
            db.add(Chair(site_pk=site.pk, name=name))
            db.commit()
    finally:
        engine.dispose()
    return name
