"""The vital-signs trend chart, drawn as SVG on the server (no scripts, prints as well)."""

import io
from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from ketaclinic.patients.models import VitalSigns

# Readings minutes apart (or one reading) are shown on at least this span, so the axis reads in
# clock times rather than seconds, or years around a single point.
MIN_SPAN = timedelta(hours=1)
SERIES = (
    # (panel, field, label, colour)
    ("Blood pressure and heart rate", "systolic_mmhg", "Systolic (mmHg)", "#b3261e"),
    ("Blood pressure and heart rate", "diastolic_mmhg", "Diastolic (mmHg)", "#1f5fae"),
    ("Blood pressure and heart rate", "heart_rate_bpm", "Heart rate (/min)", "#2e7d32"),
    ("Weight", "weight_kg", "Weight (kg)", "#6a3d9a"),
)


def vitals_svg(vitals: Sequence[VitalSigns], time_zone: str) -> str:
    """An SVG chart of blood pressure, heart rate and weight over time, or '' with no data."""
    tz = ZoneInfo(time_zone)
    panels: dict[str, list[tuple[str, str, list, list]]] = {}
    for panel, field, label, colour in SERIES:
        points = [(v.measured_at.astimezone(tz), getattr(v, field)) for v in vitals
                  if getattr(v, field) is not None]
        if points:
            panels.setdefault(panel, []).append(
                (label, colour, [x for x, _ in points], [y for _, y in points]))
    if not panels:
        return ""
    figure = Figure(figsize=(8, 2.6 * len(panels)), layout="constrained")
    axes_list = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for axes, (title, series) in zip(axes_list, panels.items(), strict=True):
        for label, colour, xs, ys in series:
            axes.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, color=colour, label=label)
        axes.set_title(title, loc="left", fontsize=10)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, ncols=3)
        moments = [x for _, _, xs, _ in series for x in xs]
        first, last = min(moments), max(moments)
        if last - first < MIN_SPAN:
            middle = first + (last - first) / 2
            axes.set_xlim(middle - MIN_SPAN / 2, middle + MIN_SPAN / 2)
        locator = AutoDateLocator(tz=tz)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=tz))
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    start = svg.find("<svg")
    return svg[start:].replace(
        "<svg ", '<svg id="vitals-chart" role="img" aria-label="Vital signs trend" ', 1
    )
