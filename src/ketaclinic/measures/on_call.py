"""The on-call rota: which clinician an escalated alert at a site is sent to, and when."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth.models import User
from ketaclinic.clinics.models import Site
from ketaclinic.errors import Conflict, FieldProblem, InvalidInput, NotFound, public_id
from ketaclinic.kernel.actor import Actor
from ketaclinic.measures.models import OnCall

CLINICAL_ROLES = ("prescriber", "nurse")
LONGEST_SHIFT = timedelta(days=14)


def add(*, db: Session, site: Site, username: str, starts_at: datetime, ends_at: datetime,
        actor: Actor) -> OnCall:
    """Put a clinician of the site on call from one moment to another."""
    user = db.execute(select(User).where(User.username == username.strip().lower())
                      ).scalar_one_or_none()
    problems = []
    if user is None or not user.active or user.role not in CLINICAL_ROLES or \
            site.pk not in {s.pk for s in user.sites}:
        names = ", ".join(u.username for u in clinicians(db=db, site=site)) or "none"
        problems.append(FieldProblem("user", f"{username!r} is not an active clinician at "
                                     f"{site.code}", names))
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        problems.append(FieldProblem("starts_at", "has no time zone", "ISO 8601 with an offset"))
    elif not starts_at < ends_at <= starts_at + LONGEST_SHIFT:
        problems.append(FieldProblem("ends_at", "is not after the start, or the shift is over "
                                     "14 days", "after the start, at most 14 days later"))
    elif ends_at <= clock.now():
        problems.append(FieldProblem("ends_at", "is in the past", "a shift that has not ended"))
    if problems:
        raise InvalidInput(problems)
    assert user is not None
    if not user.email:
        raise Conflict(f"{user.username} has no email address: escalated alerts could not reach "
                       "them; add one under Users first")
    shift = OnCall(site_pk=site.pk, user_pk=user.pk, starts_at=starts_at, ends_at=ends_at,
                   created_by=actor.username)
    db.add(shift)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="OnCall", record_id=shift.id,
                 detail=f"{user.username} on call at {site.code} {starts_at.isoformat()} to "
                        f"{ends_at.isoformat()}")
    return shift


def cancel(*, db: Session, shift_id: str, actor: Actor) -> OnCall:
    """Take a shift off the rota (kept, marked cancelled)."""
    shift = db.execute(select(OnCall).where(OnCall.id == public_id(shift_id, "on-call shift"))
                       ).scalar_one_or_none()
    if shift is None or shift.site_pk not in actor.site_pks:
        raise NotFound("no such on-call shift")
    if shift.cancelled_at is None:
        shift.cancelled_at, shift.cancelled_by = clock.now(), actor.username
        db.flush()
        audit.record(db=db, actor=actor, action="cancel", record_type="OnCall", record_id=shift.id,
                     detail="taken off the rota")
    return shift


def clinicians(*, db: Session, site: Site) -> list[User]:
    """The active prescribers and nurses of a site, who may be on call."""
    users = db.execute(select(User).where(User.role.in_(CLINICAL_ROLES), User.active.is_(True))
                       .order_by(User.username)).scalars().all()
    return [u for u in users if site.pk in {s.pk for s in u.sites}]


def rota(*, db: Session, site: Site, since: datetime) -> Sequence[tuple[OnCall, User]]:
    """The site's shifts that end after `since`, earliest first."""
    rows = db.execute(select(OnCall, User).join(User, User.pk == OnCall.user_pk).where(
        OnCall.site_pk == site.pk, OnCall.ends_at > since).order_by(OnCall.starts_at)).all()
    return [(shift, user) for shift, user in rows]


def on_call_at(*, db: Session, site_pk: int, at: datetime) -> User | None:
    """The clinician on call at the site at that moment (the latest-starting shift wins)."""
    return db.execute(select(User).join(OnCall, OnCall.user_pk == User.pk).where(
        OnCall.site_pk == site_pk, OnCall.cancelled_at.is_(None), OnCall.starts_at <= at,
        OnCall.ends_at > at, User.active.is_(True)).order_by(OnCall.starts_at.desc()).limit(1)
    ).scalar_one_or_none()


def site_code_of(db: Session, shift: OnCall) -> str:
    """The code of the site a shift is at."""
    return db.execute(select(Site.code).where(Site.pk == shift.site_pk)).scalar_one()
