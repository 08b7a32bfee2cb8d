"""Whether an appointment fits: the site open, a chair free for the route, a nurse with room, a
prescriber on site when the kind needs one, all in the site's own time zone."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.auth.models import User
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.knowledge import appointments as rules
from ketaclinic.scheduling.models import (
    BOOKED,
    CHECKED_IN,
    Appointment,
    SiteClosure,
    SiteHours,
    StaffAbsence,
    StaffShift,
)

ACTIVE = (BOOKED, CHECKED_IN)


@dataclass(frozen=True)
class Held:
    """A chair held from start to end (a booked appointment, or one proposed in the same series)."""

    chair_pk: int | None
    starts_at: datetime
    ends_at: datetime
    kind: str


@dataclass
class Fit:
    """The result of checking one slot: the chair it would take, or why it does not fit."""

    starts_at: datetime
    ends_at: datetime
    chair: Chair | None = None
    problems: list[str] = field(default_factory=list)


def zone_of(site: Site) -> ZoneInfo:
    """The site's time zone."""
    return ZoneInfo(site.time_zone)


def at_local(site: Site, day: date, local_time: time) -> datetime:
    """A local wall-clock time at the site as an aware datetime (daylight saving applied)."""
    return datetime.combine(day, local_time, tzinfo=zone_of(site))


def hours(db: Session, site: Site) -> dict[int, tuple[time, time]]:
    """The site's opening hours by weekday (the table's defaults until the site sets its own)."""
    rows = db.execute(select(SiteHours).where(SiteHours.site_pk == site.pk)).scalars().all()
    if not rows:
        return rules.default_hours()
    return {r.weekday: (r.opens, r.closes) for r in rows}


def closure(db: Session, site: Site, day: date) -> SiteClosure | None:
    """The closed day, if the site is closed then."""
    return db.execute(select(SiteClosure).where(SiteClosure.site_pk == site.pk,
                                                SiteClosure.day == day)).scalar_one_or_none()


def _on_duty(db: Session, site: Site, role: str, day: date, start: time, end: time) -> list[str]:
    """Staff of a role whose shift at the site covers the whole interval that day."""
    rows = db.execute(select(User.username).join(StaffShift, StaffShift.user_pk == User.pk).where(
        StaffShift.site_pk == site.pk, StaffShift.weekday == day.weekday(), User.role == role,
        User.active.is_(True), StaffShift.starts <= start, StaffShift.ends >= end)).scalars().all()
    away = set(db.execute(select(User.username).join(
        StaffAbsence, StaffAbsence.user_pk == User.pk).where(StaffAbsence.day == day)).scalars())
    return sorted(set(rows) - away)


def booked(db: Session, site: Site, start: datetime, end: datetime,
           ignore_pk: int | None = None) -> list[Held]:
    """Appointments at the site overlapping [start, end)."""
    query = select(Appointment).where(Appointment.site_pk == site.pk,
                                      Appointment.status.in_(ACTIVE),
                                      Appointment.starts_at < end, Appointment.ends_at > start)
    if ignore_pk is not None:
        query = query.where(Appointment.pk != ignore_pk)
    return [Held(a.chair_pk, a.starts_at, a.ends_at, a.kind)
            for a in db.execute(query).scalars()]


def fit(db: Session, *, site: Site, kind: rules.AppointmentKind, starts_at: datetime,
        chair_pk: int | None = None, ignore_pk: int | None = None,
        also_held: Sequence[Held] = (), now: datetime | None = None) -> Fit:
    """Check one slot; `also_held` are slots proposed earlier in the same series; `now` (default:
    the clock) is the moment before which a slot is past."""
    ends_at = starts_at + timedelta(minutes=kind.minutes)
    result = Fit(starts_at, ends_at)
    zone = zone_of(site)
    local_start, local_end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    day = local_start.date()
    when = f"{local_start:%a %Y-%m-%d %H:%M}-{local_end:%H:%M}"
    if starts_at < (now or clock.now()):
        result.problems.append(f"{when} is in the past")
        return result
    ahead = rules.booking_rules().max_days_ahead
    if starts_at > clock.now() + timedelta(days=ahead):
        result.problems.append(f"{when} is more than {ahead} days ahead")
        return result
    closed = closure(db, site, day)
    if closed is not None:
        result.problems.append(f"{site.code} is closed on {day:%a %Y-%m-%d}"
                               + (f" ({closed.reason})" if closed.reason else ""))
        return result
    open_hours = hours(db, site).get(day.weekday())
    if open_hours is None:
        result.problems.append(f"{site.code} is closed on {day:%A}s")
        return result
    if local_end.date() != day or local_start.time() < open_hours[0] \
            or local_end.time() > open_hours[1]:
        result.problems.append(f"{when} is outside opening hours "
                               f"{open_hours[0]:%H:%M}-{open_hours[1]:%H:%M}")
        return result
    overlapping = booked(db, site, starts_at, ends_at, ignore_pk) + [
        h for h in also_held if h.starts_at < ends_at and h.ends_at > starts_at]
    if kind.chair:
        result.chair = _free_chair(db, site, kind, overlapping, chair_pk)
        if result.chair is None:
            result.problems.append(f"no {'such' if chair_pk else 'free'} chair for "
                                   f"{kind.label} {when}")
        nurses = _on_duty(db, site, "nurse", day, local_start.time(), local_end.time())
        treating = most_at_once([h for h in overlapping if h.chair_pk is not None],
                                starts_at, ends_at)
        capacity = len(nurses) * rules.booking_rules().patients_per_nurse
        if not nurses:
            result.problems.append(f"no nurse on shift {when}")
        elif treating >= capacity:
            result.problems.append(f"the nurses on shift already watch {treating} patients "
                                   f"{when} ({rules.booking_rules().patients_per_nurse} each, "
                                   "clinic default)")
    if kind.prescriber_on_site and not _on_duty(db, site, "prescriber", day, local_start.time(),
                                                local_end.time()):
        result.problems.append(f"no prescriber on site {when} ({kind.prescriber_source})")
    return result


def most_at_once(held: Sequence[Held], start: datetime, end: datetime) -> int:
    """The most chair appointments under way at one moment of [start, end): two back to back in
    one chair are one patient at a time for the nurse, not two."""
    moments = [start] + [h.starts_at for h in held if start < h.starts_at < end]
    return max((sum(1 for h in held if h.starts_at <= m < h.ends_at) for m in moments), default=0)


def _free_chair(db: Session, site: Site, kind: rules.AppointmentKind, overlapping: list[Held],
                wanted: int | None) -> Chair | None:
    taken = {h.chair_pk for h in overlapping}
    chairs = db.execute(select(Chair).where(Chair.site_pk == site.pk, Chair.active.is_(True))
                        .order_by(Chair.name)).scalars().all()
    for chair in chairs:
        if wanted is not None and chair.pk != wanted:
            continue
        if kind.route in (chair.routes or rules.TREATMENT_ROUTES) and chair.pk not in taken:
            return chair
    return None
