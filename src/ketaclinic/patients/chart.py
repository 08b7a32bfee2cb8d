"""The vital-signs trend chart, written as SVG by the server (no scripts, prints as well): drawn
from the bounded series of `trend`, so its cost does not grow with the patient's history, and
kept until the patient's readings change."""

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ketaclinic.patients.models import Patient
from ketaclinic.patients.trend import Bucket, Trend, trend, version

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
WIDTH, PANEL_HEIGHT = 800, 230
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 40, 28
X_TICKS, Y_TICKS = 6, 5
# Points are marked when few enough to tell apart.
MARK_POINTS_UP_TO = 60
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
    tz = ZoneInfo(time_zone)
    panels = [(title, [(label, colour, series.series.get(field, []))
                       for field, label, colour in lines if series.series.get(field)])
              for title, lines in PANELS]
    panels = [(title, lines) for title, lines in panels if lines]
    if not panels:
        return ""
    moments = [b.at for _, lines in panels for _, _, points in lines for b in points]
    first, last = min(moments), max(moments)
    if last - first < MIN_SPAN:
        middle = first + (last - first) / 2
        first, last = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2
    height = PANEL_HEIGHT * len(panels)
    parts = [f'<svg id="vitals-chart" role="img" aria-label="Vital signs trend" '
             f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
             f'width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">',
             "<title>Vital signs trend</title>"]
    for index, (title, lines) in enumerate(panels):
        parts += _panel(index * PANEL_HEIGHT, title, lines, first, last, tz)
    parts.append("</svg>")
    return "".join(parts)


def _panel(top: float, title: str, lines: Sequence[tuple[str, str, list[Bucket]]],
           first: datetime, last: datetime, tz: ZoneInfo) -> list[str]:
    plot_top, plot_bottom = top + TOP, top + PANEL_HEIGHT - BOTTOM
    lows = [b.low for _, _, points in lines for b in points]
    highs = [b.high for _, _, points in lines for b in points]
    ticks = _nice_ticks(min(lows), max(highs), Y_TICKS)
    y_min, y_max = ticks[0], ticks[-1]
    span_s = (last - first).total_seconds()

    def x(at: datetime) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (at - first).total_seconds() / span_s

    def y(value: float) -> float:
        return plot_bottom - (plot_bottom - plot_top) * (value - y_min) / (y_max - y_min)

    out = [f'<g class="panel"><text x="{LEFT}" y="{top + 14}" font-size="13">{escape(title)}'
           "</text>"]
    legend_x = float(WIDTH - RIGHT)
    for label, colour, _ in reversed(lines):
        out.append(f'<text x="{legend_x:.0f}" y="{top + 30}" text-anchor="end" fill="{colour}">'
                   f"{escape(label)}</text>")
        legend_x -= 8 + 6.5 * len(label)
    for tick in ticks:
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                   'stroke="#ddd"/>'
                   f'<text class="y-tick" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" '
                   f'text-anchor="end">{tick:g}</text>')
    for at, text in _time_ticks(first, last, tz):
        out.append(f'<text class="x-tick" x="{x(at):.1f}" y="{plot_bottom + 16}" '
                   f'text-anchor="middle">{text}</text>')
    for label, colour, points in lines:
        out.append(f'<g class="series" fill="{colour}" stroke="{colour}">'
                   f"<title>{escape(label)}</title>")
        out.append('<polyline fill="none" stroke-width="1.5" points="' + " ".join(
            f"{x(b.at):.1f},{y(b.mean):.1f}" for b in points) + '"/>')
        for b in points:
            if b.high > b.low:  # a bucket's range, so a peak stays visible
                out.append(f'<line x1="{x(b.at):.1f}" x2="{x(b.at):.1f}" y1="{y(b.low):.1f}" '
                           f'y2="{y(b.high):.1f}" stroke-width="3" opacity="0.45"/>')
        if len(points) <= MARK_POINTS_UP_TO:
            out += [f'<circle cx="{x(b.at):.1f}" cy="{y(b.mean):.1f}" r="3"/>' for b in points]
        out.append("</g>")
    out.append("</g>")
    return out


def _nice_ticks(low: float, high: float, count: int) -> list[float]:
    """Round-numbered ticks covering low..high (a flat series gets a band around it)."""
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = [start]
    while ticks[-1] < high - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


STEPS = (*[timedelta(minutes=m) for m in (5, 10, 15, 30)],
         *[timedelta(hours=h) for h in (1, 2, 3, 6, 12)],
         *[timedelta(days=d) for d in (1, 2, 7, 14, 30, 61, 91, 182, 365)])


def _time_ticks(first: datetime, last: datetime, tz: ZoneInfo) -> list[tuple[datetime, str]]:
    """About X_TICKS moments on round local times between first and last, with labels in the
    clinic's time zone: clock times within two days, dates within two years, else months."""
    span = last - first
    step = next((s for s in STEPS if span / s <= X_TICKS), STEPS[-1])
    local_first = first.astimezone(tz)
    if step < timedelta(days=1):
        minutes = int(step.total_seconds() // 60)
        floor = local_first.replace(second=0, microsecond=0,
                                    minute=local_first.minute - local_first.minute % minutes
                                    if minutes < 60 else 0)
    else:
        floor = local_first.replace(hour=0, minute=0, second=0, microsecond=0)
    shape = "%H:%M" if span <= timedelta(days=2) else "%d %b" if span <= timedelta(
        days=730) else "%b %Y"
    ticks, moment = [], floor
    while moment <= last:
        if moment >= first:
            ticks.append((moment, moment.strftime(shape)))
        moment = (moment + step).astimezone(tz)
    return ticks
