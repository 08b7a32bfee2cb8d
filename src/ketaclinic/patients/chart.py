"""The vital-signs trend chart, written as SVG by the server (no scripts, prints as well): drawn
from the bounded series of `trend`, so its cost does not grow with the patient's history, and
kept until the patient's readings change."""

import threading
from collections import OrderedDict
from datetime import timedelta

from sqlalchemy.orm import Session

from ketaclinic.kernel import svg_chart
from ketaclinic.kernel.svg_chart import Line
from ketaclinic.patients.models import Patient
from ketaclinic.patients.trend import Trend, trend, version

# Readings minutes apart (or one reading) are shown on at least this span, so the axis reads in
# clock times rather than seconds, or years around a single point.
MIN_SPAN = timedelta(hours=1)
PANELS = (
    ("Blood pressure and heart rate", (
        ("systolic_mmhg", "Systolic (mmHg)", "#b3261e"),
        ("diastolic_mmhg", "Diastolic (mmHg)", "#1f5fae"),
        ("heart_rate_bpm", "Heart rate (/min)", "#2e7d32"))),
    ("Weight", (("weight_kg", "Weight (kg)", "#6a3d9a"),)),
)
CACHED_CHARTS = 512

_cache: OrderedDict[tuple[object, ...], str] = OrderedDict()
_cache_lock = threading.Lock()


def trend_svg(db: Session, patient: Patient, time_zone: str) -> str:
    """The patient's trend chart ('' with no readings), drawn again only when their readings
    changed since it was last drawn in this process."""
    key = (patient.pk, time_zone, *version(db, patient))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    svg = vitals_svg(trend(db, patient), time_zone)
    with _cache_lock:
        _cache[key] = svg
        while len(_cache) > CACHED_CHARTS:
            _cache.popitem(last=False)
    return svg


def vitals_svg(series: Trend, time_zone: str) -> str:
    """An SVG chart of blood pressure, heart rate and weight over time, or '' with no data."""
    return svg_chart.chart_svg(
        "vitals-chart", "Vital signs trend",
        [(title, [Line(label, colour, series.series.get(field, []))
                  for field, label, colour in lines]) for title, lines in PANELS],
        time_zone, MIN_SPAN)
