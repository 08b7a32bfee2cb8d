"""Looking up sites."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.auth.actor import Actor
from ketaclinic.clinics.models import Site


def sites_of(*, db: Session, actor: Actor) -> Sequence[Site]:
    """The sites the actor works at, by name."""
    return db.execute(
        select(Site).where(Site.pk.in_(actor.site_pks)).order_by(Site.name)
    ).scalars().all()


def default_time_zone(*, db: Session) -> str:
    """The first site's time zone, for views that belong to no one site."""
    tz = db.execute(select(Site.time_zone).order_by(Site.pk).limit(1)).scalar_one_or_none()
    return tz or "UTC"
