"""Clinic outcomes computed in the database: response, remission, time to response, durability
and side-effect rates per route and indication, with confidence intervals and the published
benchmarks beside them.

A course counts when it has at least one measure of its primary instrument (PHQ-9 for
depression, PCL-5 for PTSD, pain for pain) inside the date range that is later than its baseline;
the baseline is always the course's first measure, whatever the range. Response and remission
are judged on the course's latest measure in the range; time to response is from the baseline to
the first measure on or below the response line; a response is lost when a later measure climbs
back above the line.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ketaclinic.courses.models import Course
from ketaclinic.knowledge import instruments
from ketaclinic.knowledge.outcomes import (
    benchmarks,
    primary_instruments,
    response_fall_fraction,
    wilson_interval,
)
from ketaclinic.measures.models import Measure
from ketaclinic.treatments.models import SessionEvent, TreatmentSession


@dataclass(frozen=True)
class Rate:
    """A proportion with its 95 % Wilson interval, in percent."""

    count: int
    total: int

    @property
    def pct(self) -> float | None:
        """The rate in percent (None with no courses)."""
        return round(100 * self.count / self.total, 1) if self.total else None

    @property
    def interval(self) -> tuple[float, float]:
        """The 95 % confidence interval in percent."""
        low, high = wilson_interval(self.count, self.total)
        return round(100 * low, 1), round(100 * high, 1)


@dataclass(frozen=True)
class OutcomeRow:
    """Outcomes for one route and indication."""

    route: str
    indication: str
    instrument: str
    courses: int
    response: Rate
    remission: Rate | None  # None: the instrument has no remission line
    mean_days_to_response: float | None
    responses_lost: Rate
    mean_days_response_lasted: float | None
    sessions: int
    side_effects: Rate
    benchmarks: list[dict[str, Any]]


def _primary(indication: Any) -> ColumnElement[str]:
    occasions = primary_instruments()
    return case(occasions, value=indication, else_=occasions["depression"])


def _lines(instrument: ColumnElement[str], baseline: ColumnElement[Any]) -> tuple[
        ColumnElement[Any], ColumnElement[Any]]:
    """The response and remission lines as SQL, from the instrument table."""
    fall = response_fall_fraction()
    forms = instruments.instruments()
    by_points = {k: f.response_fall_points for k, f in forms.items() if f.response_fall_points}
    response = case(*((instrument == k, baseline - points) for k, points in by_points.items()),
                    else_=cast(baseline, Float) * (1 - fall))
    remission_rows = {k: f.remission_max for k, f in forms.items() if f.remission_max is not None}
    remission = case(remission_rows, value=instrument, else_=literal(None))
    return response, remission


def _days(later: ColumnElement[Any], earlier: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def compute(*, db: Session, site_pks: set[int] | frozenset[int], since: datetime | None = None,
            until: datetime | None = None) -> list[OutcomeRow]:
    """Outcome rates per route and indication at the given sites, in one round of SQL."""
    dialect = db.get_bind().dialect.name
    primary = _primary(Course.indication)
    filters = [Measure.status == "final", Measure.site_pk.in_(site_pks),
               Measure.instrument == primary]
    ordered = (Measure.taken_at, Measure.pk)
    # The baseline is the course's first measure, whatever the date range asked for.
    every = (select(
        Measure.pk.label("pk"), Measure.course_pk.label("course_pk"),
        Measure.instrument.label("instrument"), Course.route.label("route"),
        Course.indication.label("indication"), Measure.total.label("total"),
        Measure.taken_at.label("taken_at"),
        func.first_value(Measure.total).over(partition_by=Measure.course_pk,
                                             order_by=ordered).label("baseline"),
        func.first_value(Measure.taken_at).over(partition_by=Measure.course_pk,
                                                order_by=ordered).label("baseline_at"))
        .join(Course, Course.pk == Measure.course_pk)
        .where(*filters, Measure.total.is_not(None))).subquery("every")
    in_range = []
    if since:
        in_range.append(every.c.taken_at >= since)
    if until:
        in_range.append(every.c.taken_at < until)
    scored = select(
        every, func.row_number().over(partition_by=every.c.course_pk, order_by=(
            every.c.taken_at.desc(), every.c.pk.desc())).label("from_last"),
        func.count(case((every.c.taken_at > every.c.baseline_at, 1))).over(
            partition_by=every.c.course_pk).label("measures"),
    ).where(*in_range).subquery("scored")
    response_line, remission_line = _lines(scored.c.instrument, scored.c.baseline)
    flagged = select(
        scored, (and_(scored.c.baseline > 0, scored.c.total <= response_line)).label("responded"),
        (scored.c.total <= remission_line).label("remitted")).subquery("flagged")
    # The first response of each course, beside every measure (a window, so no self-join).
    timed = select(flagged, func.min(case((flagged.c.responded, flagged.c.taken_at))).over(
        partition_by=flagged.c.course_pk).label("responded_at")).subquery("timed")
    per_course = select(
        timed.c.course_pk, timed.c.route, timed.c.indication, timed.c.instrument,
        func.max(timed.c.measures).label("measures"),
        func.max(case((and_(timed.c.from_last == 1, timed.c.responded), 1), else_=0)
                 ).label("responded"),
        func.max(case((and_(timed.c.from_last == 1, timed.c.remitted), 1), else_=0)
                 ).label("remitted"),
        func.min(timed.c.responded_at).label("responded_at"),
        func.min(timed.c.baseline_at).label("baseline_at"),
        func.min(case((and_(~timed.c.responded, timed.c.taken_at > timed.c.responded_at),
                       timed.c.taken_at))).label("lost_at"),
    ).group_by(timed.c.course_pk, timed.c.route, timed.c.indication,
               timed.c.instrument).having(func.max(timed.c.measures) >= 1).subquery("per_course")
    to_response = _days(per_course.c.responded_at, per_course.c.baseline_at, dialect)
    lasted = _days(per_course.c.lost_at, per_course.c.responded_at, dialect)
    grouped = select(
        per_course.c.route, per_course.c.indication, per_course.c.instrument,
        func.count().label("courses"), func.sum(per_course.c.responded).label("responded"),
        func.sum(per_course.c.remitted).label("remitted"),
        func.avg(to_response).label("days_to_response"),
        func.count(per_course.c.responded_at).label("ever_responded"),
        func.count(per_course.c.lost_at).label("lost"), func.avg(lasted).label("days_lasted"),
    ).group_by(per_course.c.route, per_course.c.indication, per_course.c.instrument)
    side = _side_effects(db, site_pks, since, until)
    rows = []
    for r in db.execute(grouped.order_by(per_course.c.route, per_course.c.indication)).mappings():
        sessions, with_side_effects = side.get((r["route"], r["indication"]), (0, 0))
        rows.append(OutcomeRow(
            route=r["route"], indication=r["indication"], instrument=r["instrument"],
            courses=r["courses"], response=Rate(int(r["responded"] or 0), r["courses"]),
            remission=Rate(int(r["remitted"] or 0), r["courses"])
            if instruments.instrument(r["instrument"]).remission_max is not None else None,
            mean_days_to_response=_round(r["days_to_response"]),
            responses_lost=Rate(int(r["lost"] or 0), int(r["ever_responded"] or 0)),
            mean_days_response_lasted=_round(r["days_lasted"]), sessions=sessions,
            side_effects=Rate(with_side_effects, sessions),
            benchmarks=[b for b in benchmarks()
                        if b["route"] == r["route"] and b["indication"] == r["indication"]]))
    return rows


def _round(value: object) -> float | None:
    return None if value is None else round(float(value), 1)  # type: ignore[arg-type]


def _side_effects(db: Session, site_pks: set[int] | frozenset[int], since: datetime | None,
                  until: datetime | None) -> dict[tuple[str, str], tuple[int, int]]:
    """Dosed sessions and those with a side effect recorded, per route and indication."""
    had = select(SessionEvent.session_pk).where(SessionEvent.kind == "side-effect").distinct(
        ).subquery()
    query = select(TreatmentSession.route, Course.indication, func.count(),
                   func.count(had.c.session_pk)).join(
        Course, Course.pk == TreatmentSession.course_pk).outerjoin(
        had, had.c.session_pk == TreatmentSession.pk).where(
        TreatmentSession.dose_start.is_not(None), TreatmentSession.site_pk.in_(site_pks))
    if since:
        query = query.where(TreatmentSession.dose_start >= since)
    if until:
        query = query.where(TreatmentSession.dose_start < until)
    query = query.group_by(TreatmentSession.route, Course.indication)
    return {(route, indication): (int(total), int(with_side)) for route, indication, total, with_side
            in db.execute(query)}
