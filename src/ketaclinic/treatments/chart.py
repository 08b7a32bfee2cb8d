"""The chart of one treatment session: BP, heart rate and SpO2 over time, dosing and events marked."""

import io
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from matplotlib.dates import DateFormatter, date2num
from matplotlib.figure import Figure

from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.treatments.models import SessionEvent, TreatmentSession

SERIES = (("systolic_mmhg", "Systolic", "#b3261e"), ("diastolic_mmhg", "Diastolic", "#1f5fae"),
          ("heart_rate_bpm", "Heart rate", "#2e7d32"), ("spo2_pct", "SpO2 %", "#6a3d9a"))


def session_svg(readings: Sequence[Reading], treatment_session: TreatmentSession,
                events: Sequence[SessionEvent], time_zone: str) -> str:
    """An SVG chart of the session's readings with dose start/end and events, or '' if none."""
    if not readings:
        return ""
    tz = ZoneInfo(time_zone)
    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axes = figure.subplots()
    for field, label, colour in SERIES:
        points = [(r.taken.astimezone(tz), getattr(r, field)) for r in readings
                  if getattr(r, field) is not None]
        if points:
            axes.plot([date2num(p[0]) for p in points], [p[1] for p in points], marker="o",
                      markersize=3,
                      linewidth=1.5, color=colour, label=label)
    for moment, label in ((treatment_session.dose_start, "dose start"),
                          (treatment_session.dose_end, "dose end")):
        if moment is not None:
            axes.axvline(date2num(moment), color="#555", linestyle="--", linewidth=1)
            axes.annotate(label, (date2num(moment), 1.0), xycoords=("data", "axes fraction"),
                          fontsize=7, rotation=90, va="top", ha="right")
    for event in events:
        if event.kind in ("side-effect", "intervention"):
            axes.axvline(date2num(event.at), color="#e0b84c", linewidth=1)
    axes.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=tz))
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, ncols=4)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.find("<svg"):].replace(
        "<svg ", '<svg id="session-chart" role="img" aria-label="Session vital signs" ', 1)
