"""The chart of one treatment session: blood pressure, heart rate and SpO2 over time, the dose's
start and end and the session's events marked, written as SVG by the server. The database groups
the readings into at most a fixed number of stretches of time, each with its lowest, highest and
mean value a series, so a monitor's reading every second draws as fast as a nurse's few."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, cast, func, literal, select
from sqlalchemy.orm import Session

from ketaclinic.db import UTCDateTime
from ketaclinic.kernel import svg_chart
from ketaclinic.kernel.svg_chart import Bucket, Line, Mark
from ketaclinic.treatments.models import SessionEvent, SessionReading, TreatmentSession

SERIES = (("systolic_mmhg", "Systolic", "#b3261e"), ("diastolic_mmhg", "Diastolic", "#1f5fae"),
          ("heart_rate_bpm", "Heart rate", "#2e7d32"), ("spo2_pct", "SpO2 %", "#6a3d9a"))
# A session's readings in at most this many stretches a series (about one per 3 px of the
# plot): each keeps its lowest and highest reading, so a dip or a spike stays drawn.
SESSION_BUCKETS = 240
# A session's first minutes are shown on at least this span, so the axis reads in clock times.
MIN_SPAN = timedelta(minutes=30)
# An open page redraws the chart at most once a stretch (a new reading changes only the last
# stretch), and at least this often: drawing it groups every reading of the session, so a
# redraw at every reading made each open page's work grow with the session's length. The
# newest readings and the alarms are shown at once, beside it.
REDRAW_AT_LEAST_EVERY_S = 15.0
DOSE_COLOUR, EVENT_COLOUR = "#555", "#e0b84c"
MARKED_EVENTS = ("side-effect", "intervention")
Series = dict[str, list[Bucket]]


def session_series(db: Session, session_pk: int) -> Series:
    """Each charted measurement's buckets (oldest first), grouped by the database."""
    reading = SessionReading
    first, last, count = db.execute(
        select(func.min(reading.taken_at), func.max(reading.taken_at), func.count())
        .where(reading.session_pk == session_pk)).one()
    if not count:
        return {field: [] for field, _, _ in SERIES}
    if count <= SESSION_BUCKETS:
        stretch: Any = reading.pk  # few enough: every reading its own
    elif last == first:
        stretch = literal(0)
    else:
        stretch = _stretch(db.get_bind().dialect.name, reading.taken_at, first,
                           (last - first) / SESSION_BUCKETS, SESSION_BUCKETS)
    columns = [getattr(reading, field) for field, _, _ in SERIES]
    rows = db.execute(
        select(func.min(reading.taken_at), func.max(reading.taken_at),
               *[aggregate(column) for column in columns
                 for aggregate in (func.min, func.max, func.avg)])
        .where(reading.session_pk == session_pk).group_by(stretch)
        .order_by(func.min(reading.taken_at))).all()
    # a stretch with no reading of a measurement has no lowest one (SQL's NULL)
    return {field: [Bucket(row[0] + (row[1] - row[0]) / 2, float(low), float(high), float(mean))
                    for row in rows
                    for low, high, mean in [row[2 + 3 * i:5 + 3 * i]] if low is not None]
            for i, (field, _, _) in enumerate(SERIES)}


def redraw_every_s(series: Series) -> float:
    """How long an open page waits between redraws of this chart: a stretch of it (the chart
    spans at least MIN_SPAN), at most `REDRAW_AT_LEAST_EVERY_S`."""
    moments = [bucket.at for buckets in series.values() for bucket in buckets]
    span = max(max(moments) - min(moments), MIN_SPAN) if moments else MIN_SPAN
    return min(span.total_seconds() / SESSION_BUCKETS, REDRAW_AT_LEAST_EVERY_S)


def _stretch(dialect: str, moment: Any, first: datetime, width: timedelta, stretches: int
             ) -> Any:
    """SQL: which of `stretches` equal stretches from `first` a moment falls in (the last one
    holds the last moment)."""
    index: Any
    if dialect == "postgresql":
        since = literal(first, UTCDateTime)
        index = func.floor(func.extract("epoch", moment - since) / width.total_seconds())
    else:
        # the first moment's Julian day worked out here, not once a row by the database
        index = cast((func.julianday(moment) - literal(_julian_day(first)))
                     * (86400.0 / width.total_seconds()), Integer)
    return case((index >= stretches - 1, stretches - 1), else_=index)


def _julian_day(moment: datetime) -> float:
    """The Julian day of a moment, as SQLite's julianday() gives it for the stored text."""
    return moment.timestamp() / 86400.0 + 2440587.5


def session_svg(series: Series, treatment_session: TreatmentSession,
                events: Sequence[SessionEvent], time_zone: str) -> str:
    """An SVG chart of the session's series with dose start/end and events, or '' if none."""
    lines = [Line(label, colour, series.get(field, [])) for field, label, colour in SERIES]
    if not any(line.points for line in lines):
        return ""
    marks = [Mark(moment, label, DOSE_COLOUR, dashed=True)
             for moment, label in ((treatment_session.dose_start, "dose start"),
                                   (treatment_session.dose_end, "dose end"))
             if moment is not None]
    marks += [Mark(event.at, f"{event.kind}: {event.code}" if event.code else event.kind,
                   EVENT_COLOUR, written=False) for event in events if event.kind in MARKED_EVENTS]
    return svg_chart.chart_svg("session-chart", "Session vital signs", [("", lines)],
                               time_zone, MIN_SPAN, marks)
