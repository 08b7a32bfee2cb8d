"""What the day and week views show: appointments by chair and day, with conflicts marked, in a
few queries whatever the number of appointments."""

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.auth.models import User
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.knowledge import appointments as rules
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.availability import ACTIVE, at_local, hours, zone_of
from ketaclinic.scheduling.models import Appointment, SiteClosure, StaffAbsence, StaffShift


@dataclass
class Block:
    """One appointment as the views draw it."""

    appointment: Appointment
    patient: Patient
    label: str
    local_start: datetime
    local_end: datetime
    conflicts: list[str] = field(default_factory=list)


@dataclass
class Schedule:
    """A site's appointments over some days, by (day, chair key) and with what is open."""

    site: Site
    days: list[date]
    chairs: list[Chair]
    blocks: dict[tuple[date, int | None], list[Block]]
    closed: dict[date, str]
    opening: dict[date, tuple[time, time] | None]

    def count(self) -> int:
        """How many appointments are shown."""
        return sum(len(b) for b in self.blocks.values())


def schedule(db: Session, site: Site, first: date, days: int) -> Schedule:
    """Appointments at the site from a local day for some days, conflicts marked."""
    zone = zone_of(site)
    begin = at_local(site, first, time(0))
    end = at_local(site, first + timedelta(days=days), time(0))
    rows = db.execute(select(Appointment, Patient).join(
        Patient, Patient.pk == Appointment.patient_pk).where(
        Appointment.site_pk == site.pk, Appointment.status.in_(ACTIVE),
        Appointment.starts_at >= begin, Appointment.starts_at < end).order_by(
        Appointment.starts_at)).all()
    chairs = db.execute(select(Chair).where(Chair.site_pk == site.pk, Chair.active.is_(True))
                        .order_by(Chair.name)).scalars().all()
    day_list = [first + timedelta(days=n) for n in range(days)]
    closed = {c.day: c.reason or "closed" for c in db.execute(select(SiteClosure).where(
        SiteClosure.site_pk == site.pk, SiteClosure.day >= first,
        SiteClosure.day < first + timedelta(days=days))).scalars()}
    open_hours = hours(db, site)
    coverage = _prescriber_coverage(db, site, day_list)
    blocks: dict[tuple[date, int | None], list[Block]] = defaultdict(list)
    for appointment, patient in rows:
        kind = rules.kind(appointment.kind)
        local_start = appointment.starts_at.astimezone(zone)
        block = Block(appointment, patient, kind.label, local_start,
                      appointment.ends_at.astimezone(zone))
        day = local_start.date()
        if day in closed:
            block.conflicts.append(f"site closed: {closed[day]}")
        if kind.prescriber_on_site and not any(
                s <= local_start.time() and block.local_end.time() <= e
                for s, e in coverage.get(day, [])):
            block.conflicts.append("no prescriber on site")
        blocks[(day, appointment.chair_pk)].append(block)
    for items in blocks.values():
        for one, other in itertools.pairwise(items):
            if other.appointment.chair_pk is not None and \
                    other.appointment.starts_at < one.appointment.ends_at:
                one.conflicts.append("overlaps the next appointment in this chair")
                other.conflicts.append("overlaps the previous appointment in this chair")
    return Schedule(site=site, days=day_list, chairs=list(chairs), blocks=dict(blocks),
                    closed=closed,
                    opening={d: None if d in closed else open_hours.get(d.weekday())
                             for d in day_list})


def _prescriber_coverage(db: Session, site: Site, days: list[date]
                         ) -> dict[date, list[tuple[time, time]]]:
    shifts = db.execute(select(StaffShift, User.pk).join(User, User.pk == StaffShift.user_pk).where(
        StaffShift.site_pk == site.pk, User.role == "prescriber", User.active.is_(True))).all()
    away = {(a.user_pk, a.day) for a in db.execute(select(StaffAbsence).where(
        StaffAbsence.day >= days[0], StaffAbsence.day <= days[-1])).scalars()}
    found: dict[date, list[tuple[time, time]]] = defaultdict(list)
    for day in days:
        for shift, user_pk in shifts:
            if shift.weekday == day.weekday() and (user_pk, day) not in away:
                found[day].append((shift.starts, shift.ends))
    return found


def grid_rows(view: Schedule, day: date, step_min: int = 15) -> dict[str, Any]:
    """The day view's time rows and each block's row span (CSS grid)."""
    opening = view.opening.get(day) or (time(8), time(18))
    start = opening[0].hour * 60 + opening[0].minute
    stop = opening[1].hour * 60 + opening[1].minute
    times = [f"{m // 60:02d}:{m % 60:02d}" for m in range(start, stop, step_min)]
    placed = []
    for (block_day, chair_pk), items in view.blocks.items():
        if block_day != day:
            continue
        for block in items:
            begin = block.local_start.hour * 60 + block.local_start.minute
            finish = block.local_end.hour * 60 + block.local_end.minute
            row = max(0, (begin - start) // step_min) + 2
            span = max(1, -(-(finish - begin) // step_min))
            column = next((i for i, c in enumerate(view.chairs) if c.pk == chair_pk),
                          len(view.chairs)) + 2
            placed.append({"block": block, "row": row, "span": span, "column": column})
    return {"times": times, "placed": placed}
