"""Opening hours, closed days, staff shifts and days away: what the booking checks against."""

from datetime import date, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit import service as audit
from ketaclinic.auth.models import User
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.errors import invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import appointments as rules
from ketaclinic.scheduling.models import SiteClosure, SiteHours, StaffAbsence, StaffShift

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STAFF_ROLES = ("nurse", "prescriber")


def weekday(name: str) -> int:
    """A weekday by its three-letter name (0 = Monday)."""
    key = name.strip().lower()[:3]
    if key not in WEEKDAYS:
        raise invalid("day", f"{name!r} is not a weekday", ", ".join(WEEKDAYS))
    return WEEKDAYS.index(key)


def _span(opens: time, closes: time, field: str) -> None:
    if opens >= closes:
        raise invalid(field, f"{opens:%H:%M} is not before {closes:%H:%M}",
                      "a start before the end, the same day")


def set_hours(*, db: Session, site: Site, day: str, opens: time | None, closes: time | None,
              actor: Actor) -> None:
    """Open a weekday from `opens` to `closes` (both None: closed that weekday)."""
    number = weekday(day)
    row = db.execute(select(SiteHours).where(SiteHours.site_pk == site.pk,
                                             SiteHours.weekday == number)).scalar_one_or_none()
    if not db.execute(select(SiteHours.pk).where(SiteHours.site_pk == site.pk)).first():
        # The first change copies the defaults, so the other days stay as they were.
        for default_day, (o, c) in rules.default_hours().items():
            if default_day != number:
                db.add(SiteHours(site_pk=site.pk, weekday=default_day, opens=o, closes=c,
                                 created_by=actor.username))
    if opens is None or closes is None:
        if row is not None:
            db.delete(row)
    else:
        _span(opens, closes, "closes")
        if row is None:
            db.add(SiteHours(site_pk=site.pk, weekday=number, opens=opens, closes=closes,
                             created_by=actor.username))
        else:
            row.opens, row.closes = opens, closes
    db.flush()
    audit.record(db=db, actor=actor, action="update", record_type="Site", record_id=site.id,
                 detail=f"hours {WEEKDAYS[number]}: "
                        + (f"{opens:%H:%M}-{closes:%H:%M}" if opens and closes else "closed"))


def add_closure(*, db: Session, site: Site, day: date, reason: str, actor: Actor) -> SiteClosure:
    """Close the site on a day (a holiday)."""
    if db.execute(select(SiteClosure.pk).where(SiteClosure.site_pk == site.pk,
                                               SiteClosure.day == day)).first():
        raise invalid("day", f"{site.code} is already closed on {day}", "another day")
    closure = SiteClosure(site_pk=site.pk, day=day, reason=reason.strip()[:200],
                          created_by=actor.username)
    db.add(closure)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="SiteClosure",
                 record_id=closure.id, detail=f"{site.code} closed {day}: {reason}")
    return closure


def _staff(db: Session, username: str, site: Site | None = None) -> User:
    user = db.execute(select(User).where(User.username == username.strip().lower())
                      ).scalar_one_or_none()
    if user is None or user.role not in STAFF_ROLES:
        raise invalid("user", f"{username!r} is not a nurse or prescriber", "a staff username")
    if site is not None and site.pk not in {s.pk for s in user.sites}:
        raise invalid("user", f"{user.username} does not work at {site.code}",
                      "staff of this site")
    return user


def add_shift(*, db: Session, site: Site, username: str, day: str, starts: time, ends: time,
              actor: Actor) -> StaffShift:
    """A regular shift of a nurse or prescriber at a site on a weekday."""
    user = _staff(db, username, site)
    _span(starts, ends, "ends")
    shift = StaffShift(user_pk=user.pk, site_pk=site.pk, weekday=weekday(day), starts=starts,
                       ends=ends, created_by=actor.username)
    db.add(shift)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="StaffShift",
                 record_id=shift.id,
                 detail=f"{user.username} at {site.code} {day} {starts:%H:%M}-{ends:%H:%M}")
    return shift


def add_absence(*, db: Session, username: str, day: date, reason: str,
                actor: Actor) -> StaffAbsence:
    """A day a staff member is away."""
    user = _staff(db, username)
    absence = StaffAbsence(user_pk=user.pk, day=day, reason=reason.strip()[:200],
                           created_by=actor.username)
    db.add(absence)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="StaffAbsence",
                 record_id=absence.id, detail=f"{user.username} away {day}: {reason}")
    return absence


def set_chair_routes(*, db: Session, chair: Chair, routes: list[str], actor: Actor) -> None:
    """Which treatment routes a chair can serve."""
    unknown = [r for r in routes if r not in rules.TREATMENT_ROUTES]
    if unknown or not routes:
        raise invalid("routes", ", ".join(unknown) or "none given",
                      ", ".join(rules.TREATMENT_ROUTES))
    chair.routes = sorted(set(routes))
    db.flush()
    audit.record(db=db, actor=actor, action="update", record_type="Chair", record_id=chair.id,
                 detail=f"routes {', '.join(chair.routes)}")
