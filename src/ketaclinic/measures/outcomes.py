"""Clinic outcomes computed in the database: response, remission, time to response, durability
and side-effect rates per route and indication, with confidence intervals and the published
benchmarks beside them.

A course counts when it has at least one measure of its primary instrument (PHQ-9 for
depression, PCL-5 for PTSD, pain for pain) inside the date range that is later than its baseline;
the baseline is always the course's first measure, whatever the range, and it must come before
the course's first dose (a first score after treatment began is no baseline: such a course is
not counted, as its end-of-induction card does not judge it). A course is counted at the
site of its baseline measure (ketaclinic.measures.course_outcomes keeps each course's summary).
Response and remission are judged on the course's latest measure in the range; time to response is
from the baseline to the first measure on or below the response line; a response is lost when a
later measure climbs back above the line.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from ketaclinic.courses.models import Course
from ketaclinic.knowledge import instruments
from ketaclinic.knowledge.outcomes import benchmarks, response_fall_fraction, wilson_interval
from ketaclinic.measures import course_outcomes
from ketaclinic.measures.course_outcomes import SUMMARY
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
    """Outcome rates per route and indication at the given sites: one GROUP BY over the courses'
    summaries, or with a date range, over the measures in the range beside those summaries."""
    dialect = db.get_bind().dialect.name
    course_outcomes.refresh_stale(db.connection())
    per_course = (_courses_over(site_pks, since, until) if since or until
                  else _courses(site_pks))
    to_response = _days(per_course.c.responded_at, per_course.c.baseline_at, dialect)
    lasted = _days(per_course.c.lost_at, per_course.c.responded_at, dialect)
    grouped = select(
        Course.route, Course.indication, per_course.c.instrument,
        func.count().label("courses"), func.sum(per_course.c.responded).label("responded"),
        func.sum(per_course.c.remitted).label("remitted"),
        func.avg(to_response).label("days_to_response"),
        func.count(per_course.c.responded_at).label("ever_responded"),
        func.count(per_course.c.lost_at).label("lost"), func.avg(lasted).label("days_lasted"),
    ).join(Course, Course.pk == per_course.c.course_pk).group_by(
        Course.route, Course.indication, per_course.c.instrument)
    side = _side_effects(db, site_pks, since, until)
    rows = []
    for r in db.execute(grouped.order_by(Course.route, Course.indication)).mappings():
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


def _baseline_before_treatment() -> tuple[Subquery, ColumnElement[bool]]:
    """Each course's first dose, and the condition that a summary's baseline came before it
    (or that no dose is given yet): one pass over the sessions, not a look per course."""
    first = select(TreatmentSession.course_pk, func.min(TreatmentSession.dose_start)
                   .label("first_dose")).where(TreatmentSession.dose_start.is_not(None)
                                               ).group_by(TreatmentSession.course_pk
                                                          ).subquery("first_dose")
    return first, or_(first.c.first_dose.is_(None), SUMMARY.c.baseline_at <= first.c.first_dose)


def _courses(site_pks: set[int] | frozenset[int]) -> Subquery:
    """Each counted course's outcome as its summary row holds it."""
    first, before = _baseline_before_treatment()
    return select(
        SUMMARY.c.course_pk, SUMMARY.c.instrument,
        case((SUMMARY.c.responding, 1), else_=0).label("responded"),
        case((SUMMARY.c.remitted, 1), else_=0).label("remitted"),
        SUMMARY.c.first_response_at.label("responded_at"), SUMMARY.c.baseline_at,
        SUMMARY.c.relapsed_at.label("lost_at"),
    ).outerjoin(first, first.c.course_pk == SUMMARY.c.course_pk).where(
        SUMMARY.c.site_pk.in_(site_pks), SUMMARY.c.measures_after_baseline >= 1, before
    ).subquery("per_course")


def _courses_over(site_pks: set[int] | frozenset[int], since: datetime | None,
                  until: datetime | None) -> Subquery:
    """Each course's outcome judged on its measures in the range (the baseline stays the
    course's first measure, from its summary)."""
    in_range = []
    if since:
        in_range.append(Measure.taken_at >= since)
    if until:
        in_range.append(Measure.taken_at < until)
    first, before = _baseline_before_treatment()
    every = (select(
        Measure.pk.label("pk"), Measure.course_pk.label("course_pk"),
        SUMMARY.c.instrument, Measure.total.label("total"), Measure.taken_at.label("taken_at"),
        SUMMARY.c.baseline, SUMMARY.c.baseline_at)
        .join(SUMMARY, SUMMARY.c.course_pk == Measure.course_pk)
        .outerjoin(first, first.c.course_pk == SUMMARY.c.course_pk)
        .where(Measure.status == "final", SUMMARY.c.site_pk.in_(site_pks), before,
               Measure.instrument == SUMMARY.c.instrument, Measure.total.is_not(None), *in_range)
    ).subquery("every")
    scored = select(
        every, func.row_number().over(partition_by=every.c.course_pk, order_by=(
            every.c.taken_at.desc(), every.c.pk.desc())).label("from_last"),
        func.count(case((every.c.taken_at > every.c.baseline_at, 1))).over(
            partition_by=every.c.course_pk).label("measures"),
    ).subquery("scored")
    response_line, remission_line = _lines(scored.c.instrument, scored.c.baseline)
    flagged = select(
        scored, (and_(scored.c.baseline > 0, scored.c.total <= response_line)).label("responded"),
        (scored.c.total <= remission_line).label("remitted")).subquery("flagged")
    # The first response of each course, beside every measure (a window, so no self-join).
    timed = select(flagged, func.min(case((flagged.c.responded, flagged.c.taken_at))).over(
        partition_by=flagged.c.course_pk).label("responded_at")).subquery("timed")
    return select(
        timed.c.course_pk, timed.c.instrument,
        func.max(case((and_(timed.c.from_last == 1, timed.c.responded), 1), else_=0)
                 ).label("responded"),
        func.max(case((and_(timed.c.from_last == 1, timed.c.remitted), 1), else_=0)
                 ).label("remitted"),
        func.min(timed.c.responded_at).label("responded_at"),
        func.min(timed.c.baseline_at).label("baseline_at"),
        func.min(case((and_(~timed.c.responded, timed.c.taken_at > timed.c.responded_at),
                       timed.c.taken_at))).label("lost_at"),
    ).group_by(timed.c.course_pk, timed.c.instrument).having(
        func.max(timed.c.measures) >= 1).subquery("per_course")


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
