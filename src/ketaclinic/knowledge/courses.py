"""Course plans: dated induction sessions from a start date, and the maintenance rule."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from ketaclinic.knowledge.tables import load_table

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Where in a 7-day block the sessions of a phase fall (days after the block's first day),
# spreading them evenly: twice a week is day 0 and day 3.
OFFSETS = {1: (0,), 2: (0, 3), 3: (0, 2, 4), 4: (0, 2, 4, 6)}


class PlanError(ValueError):
    """A course that cannot be planned as asked, naming the field."""


@dataclass(frozen=True)
class PlannedSession:
    """One dated session of a course."""

    number: int
    day: date
    phase: str
    week: int

    @property
    def weekday(self) -> str:
        """The day of the week, as the closed days are named (mon ... sun)."""
        return WEEKDAYS[self.day.weekday()]


@dataclass(frozen=True)
class CoursePlan:
    """The dated sessions, the maintenance rule and the source of both."""

    route: str
    indication: str
    sessions: tuple[PlannedSession, ...]
    maintenance: str
    source: str
    closed_weekdays: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data."""
        return {
            "route": self.route, "indication": self.indication,
            "sessions": [{"number": s.number, "date": s.day.isoformat(),
                          "weekday": WEEKDAYS[s.day.weekday()], "week": s.week, "phase": s.phase}
                         for s in self.sessions],
            "maintenance": self.maintenance, "source": self.source,
            "closed_weekdays": list(self.closed_weekdays),
        }


@cache
def _table() -> dict[str, Any]:
    return load_table("courses")


def default_closed_weekdays() -> tuple[str, ...]:
    """The clinic-default closed weekdays."""
    return tuple(_table()["closed_weekdays_default"])


def _open_day_within(target: date, block_start: date, block_end: date, after: date | None,
                     min_gap: int, is_closed: Callable[[date], bool]) -> date | None:
    """The open day of the block nearest the target (later on a tie) that keeps at least
    `min_gap` days after the previous session."""
    days = [block_start + timedelta(days=n) for n in range((block_end - block_start).days + 1)]
    fits = [d for d in days if not is_closed(d)
            and (after is None or (d - after).days >= min_gap)]
    return min(fits, key=lambda d: (abs((d - target).days), -d.toordinal())) if fits else None


def _weekly(phase: dict[str, Any], start: date, previous: date | None, week: int,
            min_gap: int, is_closed: Callable[[date], bool]) -> list[tuple[date, int]] | None:
    """The phase's days, week by week from `start`; None if a week cannot hold them."""
    found: list[tuple[date, int]] = []
    block_start = start
    for _ in range(phase["weeks"]):
        block_end = block_start + timedelta(days=6)
        for offset in OFFSETS[phase["per_week"]]:
            last = found[-1][0] if found else previous
            day = _open_day_within(block_start + timedelta(days=offset), block_start, block_end,
                                   last, min_gap, is_closed)
            if day is None:
                return None
            found.append((day, week))
        block_start += timedelta(days=7)
        week += 1
    return found


def plan(*, route: str, start: date, indication: str = "depression",
         closed_weekdays: tuple[str, ...] | None = None,
         allow_consecutive: bool = False) -> CoursePlan:
    """The dated sessions from `start`, moving any that fall on a closed day within their week,
    never on consecutive days where the phase says so unless the prescriber allows it; a week
    whose open days cannot hold the phase uses the phase's alternative schedule."""
    routes = [k for k, v in _table().items() if isinstance(v, dict)]
    if route not in routes:
        raise PlanError(f"route: unknown route {route!r} (accepted: {', '.join(routes)})")
    if indication not in _table()[route]:
        raise PlanError(f"indication: {indication!r} has no course for {route} "
                        f"(accepted: {', '.join(_table()[route])})")
    closed = default_closed_weekdays() if closed_weekdays is None else closed_weekdays
    unknown = [d for d in closed if d not in WEEKDAYS]
    if unknown or len(set(closed)) == 7:
        raise PlanError(f"closed_weekdays: {', '.join(unknown) or 'every day'} "
                        f"(accepted: some of {', '.join(WEEKDAYS)})")
    closed_numbers = {WEEKDAYS.index(d) for d in closed}

    def is_closed(day: date) -> bool:
        return day.weekday() in closed_numbers

    row = _table()[route][indication]
    sessions: list[PlannedSession] = []
    block_start = start
    week = 1
    for phase in row["phases"]:
        if "days" in phase:
            day = start if not sessions else sessions[-1].day + timedelta(days=1)
            while len([s for s in sessions if s.phase == phase["label"]]) < phase["days"]:
                if not is_closed(day):
                    sessions.append(PlannedSession(len(sessions) + 1, day, phase["label"],
                                                   (day - start).days // 7 + 1))
                day += timedelta(days=1)
            continue
        previous = sessions[-1].day if sessions else None
        chosen = phase
        for candidate in (phase, phase.get("alternative")):
            if candidate is None:
                break
            gap = 1 if allow_consecutive else int(candidate.get("min_gap_days", 1))
            days = _weekly(candidate, block_start, previous, week, gap, is_closed)
            if days is not None:
                chosen = candidate
                break
        if days is None:
            raise PlanError(f"start: week {week} has too few open days for "
                            f"{phase['per_week']} sessions")
        sessions += [PlannedSession(len(sessions) + n + 1, day, chosen["label"], number)
                     for n, (day, number) in enumerate(days)]
        block_start += timedelta(days=7 * chosen["weeks"])
        week += chosen["weeks"]
    source = row["source"] + (f"; {row['gap_source']}" if "gap_source" in row else "")
    return CoursePlan(route, indication, tuple(sessions), row["maintenance"], source,
                      tuple(closed))
