"""The chart of one treatment session: blood pressure, heart rate and SpO2 over time, the dose's
start and end and the session's events marked, written as SVG by the server from at most a fixed
number of buckets a series, so a monitor reading every second draws as fast as a nurse's few."""

from collections.abc import Sequence
from datetime import timedelta

from ketaclinic.kernel import svg_chart
from ketaclinic.kernel.svg_chart import Line, Mark
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.treatments.models import SessionEvent, TreatmentSession

SERIES = (("systolic_mmhg", "Systolic", "#b3261e"), ("diastolic_mmhg", "Diastolic", "#1f5fae"),
          ("heart_rate_bpm", "Heart rate", "#2e7d32"), ("spo2_pct", "SpO2 %", "#6a3d9a"))
# A session's readings in at most this many buckets a series (about one per 3 px of the plot):
# each keeps its lowest and highest reading, so a dip or a spike stays drawn.
SESSION_BUCKETS = 240
# A session's first minutes are shown on at least this span, so the axis reads in clock times.
MIN_SPAN = timedelta(minutes=30)
DOSE_COLOUR, EVENT_COLOUR = "#555", "#e0b84c"
MARKED_EVENTS = ("side-effect", "intervention")


def session_svg(readings: Sequence[Reading], treatment_session: TreatmentSession,
                events: Sequence[SessionEvent], time_zone: str) -> str:
    """An SVG chart of the session's readings with dose start/end and events, or '' if none."""
    if not readings:
        return ""
    lines = [Line(label, colour, svg_chart.buckets(
        [(r.taken, value) for r in readings if (value := getattr(r, field)) is not None],
        SESSION_BUCKETS)) for field, label, colour in SERIES]
    marks = [Mark(moment, label, DOSE_COLOUR, dashed=True)
             for moment, label in ((treatment_session.dose_start, "dose start"),
                                   (treatment_session.dose_end, "dose end"))
             if moment is not None]
    marks += [Mark(event.at, f"{event.kind}: {event.code}" if event.code else event.kind,
                   EVENT_COLOUR, written=False) for event in events if event.kind in MARKED_EVENTS]
    return svg_chart.chart_svg("session-chart", "Session vital signs", [("", lines)],
                               time_zone, MIN_SPAN, marks)
