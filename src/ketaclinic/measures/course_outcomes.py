"""Each course's outcome summary (baseline, latest, best, first response and remission, relapse),
kept current in the transaction of every measure write so the outcomes dashboard reads one row
per course.

A course's series is its final measures of its primary instrument (by indication) that carry a
total, in time order; the baseline is the first. Every flush that adds or changes a measure of a
course recomputes that course's row from its series: a course has tens of measures, and
recomputing keeps backdated measures and corrections (entered-in-error) exact without
incremental bookkeeping. On PostgreSQL the course's row is locked first, so two transactions
writing measures of one course cannot both write a summary that misses the other's measure.
"""

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, delete, event, inspect, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.courses.models import Course
from ketaclinic.knowledge import instruments
from ketaclinic.knowledge import outcomes as rules
from ketaclinic.measures.models import CourseOutcome, Measure

SUMMARY = CourseOutcome.__table__
assert isinstance(SUMMARY, Table)
REFRESH_BATCH = 500  # courses per statement when rebuilding


@dataclass(frozen=True)
class Point:
    """One measure of a course's series."""

    pk: int
    site_pk: int
    taken_at: datetime
    total: int


@cache
def rules_fingerprint() -> str:
    """A short hash of the response and remission rules a summary row is computed with."""
    forms = instruments.instruments()
    basis = {"fall": rules.response_fall_fraction(), "primary": rules.primary_instruments(),
             "instruments": {k: [f.response_fall_points, f.remission_max]
                             for k, f in sorted(forms.items())}}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def primary_instrument(indication: str) -> str:
    """The instrument a course of this indication is judged on (depression's when unlisted)."""
    primary = rules.primary_instruments()
    return primary.get(indication, primary["depression"])


def summarise(course_pk: int, instrument: str, series: Sequence[Point]) -> dict[str, Any] | None:
    """The summary row of a course from its series in time order (None with no measure)."""
    if not series:
        return None
    baseline, latest = series[0], series[-1]
    line = rules.lines(instrument, baseline.total)
    remission = line.remission_at_or_below

    def responds(point: Point) -> bool:
        return rules.responded(line, point.total)

    def remits(point: Point) -> bool:
        return remission is not None and point.total <= remission

    first_response = next((p.taken_at for p in series if responds(p)), None)
    best = min(series, key=lambda p: p.total)  # the earliest of the lowest
    return {
        "course_pk": course_pk, "site_pk": baseline.site_pk, "instrument": instrument,
        "baseline": baseline.total, "baseline_at": baseline.taken_at,
        "measures_after_baseline": sum(p.taken_at > baseline.taken_at for p in series),
        "latest": latest.total, "latest_at": latest.taken_at,
        "best": best.total, "best_at": best.taken_at,
        "responding": responds(latest), "remitted": remits(latest),
        "first_response_at": first_response,
        "first_remission_at": next((p.taken_at for p in series if remits(p)), None),
        "relapsed_at": None if first_response is None else next(
            (p.taken_at for p in series if p.taken_at > first_response and not responds(p)),
            None),
        "rules": rules_fingerprint(), "refreshed_at": clock.now(),
    }


def refresh(conn: Connection, course_pks: Iterable[int], table: Table = SUMMARY) -> None:
    """Recompute the summary rows of these courses from their measures, in this transaction
    (`table`: the summary table as a migration sees it, when not today's)."""
    wanted = sorted(set(course_pks))
    for start in range(0, len(wanted), REFRESH_BATCH):
        _refresh_batch(conn, wanted[start:start + REFRESH_BATCH], table)


def _refresh_batch(conn: Connection, course_pks: list[int], table: Table) -> None:
    # Locks the courses (PostgreSQL; SQLite already has one writer), in key order, before
    # reading their measures. FOR NO KEY UPDATE, not FOR UPDATE: each writer's new measure
    # already holds a KEY SHARE lock on its course (the foreign key), which FOR UPDATE waits
    # for, so two writers of one course deadlocked; NO KEY UPDATE still lets one at a time in.
    indications = dict(conn.execute(select(Course.pk, Course.indication).where(
        Course.pk.in_(course_pks)).order_by(Course.pk).with_for_update(key_share=True)).all())
    instrument_of = {pk: primary_instrument(indication) for pk, indication in indications.items()}
    series: dict[int, list[Point]] = {pk: [] for pk in indications}
    for row in conn.execute(select(
            Measure.course_pk, Measure.instrument, Measure.pk, Measure.site_pk, Measure.taken_at,
            Measure.total).where(Measure.course_pk.in_(course_pks), Measure.status == "final",
                                 Measure.total.is_not(None))
            .order_by(Measure.course_pk, Measure.taken_at, Measure.pk)):
        if row.instrument == instrument_of[row.course_pk]:
            series[row.course_pk].append(Point(row.pk, row.site_pk, row.taken_at, row.total))
    rows = [{k: v for k, v in summary.items() if k in table.c}
            for pk, points in series.items()
            if (summary := summarise(pk, instrument_of[pk], points)) is not None]
    conn.execute(delete(table).where(table.c.course_pk.in_(course_pks)))
    if rows:
        conn.execute(table.insert(), rows)


def rebuild(conn: Connection, table: Table = SUMMARY) -> int:
    """Recompute every course's summary (after a bulk load or a change of rules); returns the
    number of courses with measures."""
    course_pks = [pk for pk in conn.execute(select(Measure.course_pk).distinct()).scalars()
                  if pk is not None]
    conn.execute(delete(table))
    refresh(conn, course_pks, table)
    return len(course_pks)


def refresh_stale(conn: Connection) -> int:
    """Recompute the rows computed with other rules than today's; returns how many."""
    stale = list(conn.execute(select(SUMMARY.c.course_pk).where(
        SUMMARY.c.rules != rules_fingerprint())).scalars())
    refresh(conn, stale)
    return len(stale)


@event.listens_for(Session, "after_flush")
def _keep_current(session: Session, _context: Any) -> None:
    """Every flush that adds or changes a measure of a course refreshes that course's row."""
    touched: set[int] = set()
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Measure):
            # A measure moved to another course changes the course it left too.
            touched.update(pk for pk in (obj.course_pk, *inspect(obj).attrs.course_pk.history.deleted)
                           if pk is not None)
    if touched:
        refresh(session.connection(), touched)
