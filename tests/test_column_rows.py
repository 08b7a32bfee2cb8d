"""Statements of columns run on the session's connection (`db.column_rows`) see what the session
holds and has not written yet, as the session's own `execute` does."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Chair, Site
from ketaclinic.db import column_rows


def test_a_statement_of_columns_sees_changes_the_session_holds(db: Session) -> None:
    site = db.execute(select(Site).order_by(Site.pk)).scalars().first()
    assert site is not None
    db.add(Chair(site_pk=site.pk, name="Chair by the window", created_by="test"))
    rows = column_rows(db, select(Chair.name).where(Chair.site_pk == site.pk)).scalars().all()
    assert "Chair by the window" in rows


def test_with_autoflush_off_nothing_is_written_before_the_statement(db: Session) -> None:
    site = db.execute(select(Site).order_by(Site.pk)).scalars().first()
    assert site is not None
    with db.no_autoflush:
        db.add(Chair(site_pk=site.pk, name="Chair not yet written", created_by="test"))
        rows = column_rows(db, select(Chair.name).where(Chair.site_pk == site.pk)).scalars().all()
    assert "Chair not yet written" not in rows
