"""A course's trajectory: scores over time, sessions given, the end-of-induction card and relapse watch."""

import io
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.clinics import rules as clinic_rules
from ketaclinic.courses import service as courses
from ketaclinic.courses.models import Course
from ketaclinic.errors import Conflict, NotFound, invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import instruments
from ketaclinic.knowledge.outcomes import (
    Lines,
    Point,
    RelapseFlag,
    ReviewCard,
    extension_sessions,
    lines,
    primary_instrument,
    relapse,
    responded,
    review,
    without_baseline,
)
from ketaclinic.measures.models import CourseReview, Measure
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import TreatmentSession

DECISIONS = {"continue-maintenance": "Continue to maintenance",
             "extend": f"Extend induction ({extension_sessions()} sessions)",
             "stop": "Stop the course"}


@dataclass(frozen=True)
class CourseView:
    """Everything the trajectory page shows for one course."""

    course: Course
    instrument: str
    points: list[Point]
    session_days: list[date]
    induction_count: int
    lines: Lines | None
    card: ReviewCard | None
    decision: CourseReview | None
    relapse: RelapseFlag | None
    late_responder: bool
    # the course's first score came after its first dose: it has no baseline
    baseline_missing: bool = False

    @property
    def sessions_given(self) -> int:
        """Treatment sessions with a dose recorded."""
        return len(self.session_days)

    @property
    def progress(self) -> str:
        """Where the course stands in words: '4 of 6 induction sessions given', or '6 induction
        and 5 maintenance sessions given' once past induction."""
        given, planned = self.sessions_given, self.induction_count
        if given <= planned:
            return f"{given} of {planned} induction sessions given"
        extra = given - planned
        return (f"{planned} induction and {extra} maintenance "
                f"session{'s' if extra != 1 else ''} given")

    @property
    def phase(self) -> str:
        """induction until the induction count is given, then maintenance."""
        return "maintenance" if self.sessions_given > self.induction_count else "induction"


def course_view(db: Session, course: Course, time_zone: str) -> CourseView:
    """The course's scores, sessions and the cards they call for."""
    tz = ZoneInfo(time_zone)
    key = primary_instrument(course.indication)
    measures = db.execute(select(Measure).where(
        Measure.course_pk == course.pk, Measure.instrument == key, Measure.status == "final")
        .order_by(Measure.taken_at)).scalars().all()
    scored = [(m.taken_at, m.total) for m in measures if m.total is not None]
    points = [Point(clock.date_in(taken, tz), total) for taken, total in scored]
    doses = [d for d in db.execute(select(TreatmentSession.dose_start).where(
        TreatmentSession.course_pk == course.pk, TreatmentSession.dose_start.is_not(None))
        .order_by(TreatmentSession.dose_start)).scalars() if d is not None]
    session_days = [clock.date_in(d, tz) for d in doses]
    # A baseline is a score from before treatment: a first score taken after the first dose
    # (the form skipped before session 1) is not one, and no response is judged from it.
    missing = bool(scored and doses and scored[0][0] > doses[0])
    count = courses.induction_count(course)
    decision = db.execute(select(CourseReview).where(CourseReview.course_pk == course.pk)
                          .order_by(CourseReview.created_at.desc()).limit(1)).scalar_one_or_none()
    card = None
    if count and len(session_days) >= count:
        end_of_induction = session_days[count - 1]
        # The card judges the scores up to the day after the last induction session.
        upto = [p for p in points if (p.day - end_of_induction).days <= 1]
        card = without_baseline(key, upto[0], upto[-1]) if missing and upto else review(
            key, upto, clinic_rules.current_ruleset(db=db))
    line = lines(key, points[0].total) if points and not missing else None
    maintenance = len(session_days) > count or (decision is not None
                                                 and decision.decision == "continue-maintenance")
    flag = relapse(key, points, session_days) if maintenance and not missing else None
    late = False
    if decision is not None and decision.decision == "extend" and line and count <= len(session_days):
        end_of_induction = session_days[count - 1]
        late = any(responded(line, p.total) for p in points if (p.day - end_of_induction).days > 1)
    return CourseView(course, key, points, session_days, count, line, card, decision, flag, late,
                      missing)


def record_decision(*, db: Session, course: Course, patient: Patient, decision: str, note: str,
                    actor: Actor, time_zone: str) -> CourseReview:
    """The prescriber's end-of-induction decision, stored beside the card it answered. Audited."""
    if decision not in DECISIONS:
        raise invalid("decision", f"unknown decision {decision!r}", ", ".join(DECISIONS))
    view = course_view(db, course, time_zone)
    if view.card is None:
        raise Conflict("the induction is not complete or has no scores to review yet")
    if course.patient_pk != patient.pk:
        raise NotFound("no such course")
    card = view.card
    row = CourseReview(course_pk=course.pk, state=card.state, decision=decision, note=note.strip(),
                       card={"state": card.state, "fall_pct": card.fall_pct,
                             "baseline": [card.baseline.day.isoformat(), card.baseline.total],
                             "latest": [card.latest.day.isoformat(), card.latest.total],
                             "remission": card.remission, "sources": list(card.sources)},
                       created_by=actor.username)
    db.add(row)
    db.flush()
    audit.record(db=db, actor=actor, action="decide", record_type="CourseReview", record_id=row.id,
                 patient_id=patient.id,
                 detail=f"end of induction: {card.state} ({card.fall_pct}% fall); {decision}")
    courses.decided(db=db, course=course, decision=decision, actor=actor, patient_id=str(patient.id))
    return row


def chart_svg(view: CourseView) -> str:
    """The course's primary scores over time: bands, sessions, baseline, response and remission."""
    return instrument_svg(view.instrument, view.points, view.session_days, view.lines)


def instrument_svg(key: str, points: list[Point], session_days: list[date],
                   course_lines: Lines | None = None) -> str:
    """One instrument's totals over time with its severity bands and the sessions marked; the
    baseline, response and remission lines when given."""
    if not points:
        return ""
    form = instruments.instrument(key)
    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axes = figure.subplots()
    shades = ["#e8f5e9", "#f1f8e9", "#fffde7", "#fff3e0", "#ffebee"]
    for index, band in enumerate(form.bands):
        axes.axhspan(band.min - 0.5, band.max + 0.5, color=shades[min(index, len(shades) - 1)],
                     zorder=0)
        axes.text(1.0, (band.min + band.max) / 2, f" {band.label}", transform=axes.get_yaxis_transform(),
                  fontsize=7, va="center", color="#555")
    for day in session_days:
        axes.axvline(date2num(day), color="#9e9e9e", linewidth=0.8, linestyle=":", zorder=1)
    if course_lines:
        axes.axhline(course_lines.baseline, color="#455a64", linewidth=1, label="baseline")
        axes.axhline(course_lines.response_at_or_below, color="#1f5fae", linewidth=1.2,
                     linestyle="--", label="response line")
        if course_lines.remission_at_or_below is not None:
            axes.axhline(course_lines.remission_at_or_below, color="#2e7d32", linewidth=1.2,
                         linestyle="-.", label="remission line")
    axes.plot([date2num(p.day) for p in points], [p.total for p in points], marker="o",
              markersize=4, linewidth=1.8, color="#b3261e", label=form.name, zorder=3)
    axes.set_ylim(form.min - 0.5, form.max + 0.5)
    axes.set_ylabel(f"{form.name} total")
    axes.set_title(f"{form.name} over time (dotted lines: treatment sessions)", loc="left",
                   fontsize=10)
    axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.08), fontsize=8, frameon=False, ncols=4)
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.find("<svg"):].replace(
        "<svg ", f'<svg class="trajectory" role="img" aria-label="{form.name} trajectory" ', 1)
