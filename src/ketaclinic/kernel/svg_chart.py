"""Time-series charts written as SVG by the server (no scripts, print as well): series of
buckets, each keeping its lowest and highest value so that a peak is never averaged away, in
panels with round-numbered axes and clock times in the clinic's time zone."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

WIDTH, PANEL_HEIGHT = 800, 230
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 40, 28
X_TICKS, Y_TICKS = 6, 5
# Points are marked when few enough to tell apart.
MARK_POINTS_UP_TO = 60


@dataclass(frozen=True)
class Bucket:
    """The readings of one measurement within one stretch of time."""

    at: datetime
    low: float
    high: float
    mean: float


@dataclass(frozen=True)
class Line:
    """One series of a panel: its legend, colour and buckets (oldest first)."""

    label: str
    colour: str
    points: Sequence[Bucket]


@dataclass(frozen=True)
class Mark:
    """A moment marked across a panel (a dose started, an event): its label is written beside
    the mark when `written`, and is the mark's tooltip either way."""

    at: datetime
    label: str
    colour: str
    dashed: bool = False
    written: bool = True


def buckets(points: Sequence[tuple[datetime, float]], count: int) -> list[Bucket]:
    """Points (oldest first) in at most `count` equal stretches of time, each with its lowest,
    highest and mean value; every point its own bucket when there are no more than `count`."""
    if len(points) <= count:
        return [Bucket(at, value, value, value) for at, value in points]
    first, last = points[0][0], points[-1][0]
    if last == first:
        count = 1
    width = (last - first) / count or timedelta(seconds=1)
    result: list[Bucket] = []
    group: list[tuple[datetime, float]] = []
    stretch, end = 0, first + width  # the stretch being filled, and where it ends
    for at, value in points:  # in time order: each stretch's points come together
        if at >= end and stretch < count - 1:
            if group:
                result.append(_bucket(group))
            group = []
            stretch = min((at - first) // width, count - 1)
            end = first + width * (stretch + 1)
        group.append((at, value))
    result.append(_bucket(group))
    return result


def _bucket(group: Sequence[tuple[datetime, float]]) -> Bucket:
    values = [value for _, value in group]
    return Bucket(group[len(group) // 2][0], min(values), max(values), sum(values) / len(values))


def chart_svg(element_id: str, label: str, panels: Sequence[tuple[str, Sequence[Line]]],
              time_zone: str, min_span: timedelta, marks: Sequence[Mark] = ()) -> str:
    """An SVG of the panels (title, lines) stacked on one time axis, '' when no line has a
    point; a span shorter than `min_span` is widened around its middle, so the axis reads in
    clock times rather than seconds. Marks outside the lines' span widen it too."""
    panels = [(title, [line for line in lines if line.points]) for title, lines in panels]
    panels = [(title, lines) for title, lines in panels if lines]
    if not panels:
        return ""
    moments = [b.at for _, lines in panels for line in lines for b in line.points]
    moments += [mark.at for mark in marks]
    first, last = min(moments), max(moments)
    if last - first < min_span:
        middle = first + (last - first) / 2
        first, last = middle - min_span / 2, middle + min_span / 2
    tz = ZoneInfo(time_zone)
    height = PANEL_HEIGHT * len(panels)
    parts = [f'<svg id="{escape(element_id)}" role="img" aria-label="{escape(label)}" '
             f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
             f'width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">',
             f"<title>{escape(label)}</title>"]
    for index, (title, lines) in enumerate(panels):
        parts += _panel(index * PANEL_HEIGHT, title, lines, marks, first, last, tz)
    parts.append("</svg>")
    return "".join(parts)


def _panel(top: float, title: str, lines: Sequence[Line], marks: Sequence[Mark],
           first: datetime, last: datetime, tz: ZoneInfo) -> list[str]:
    plot_top, plot_bottom = top + TOP, top + PANEL_HEIGHT - BOTTOM
    lows = [b.low for line in lines for b in line.points]
    highs = [b.high for line in lines for b in line.points]
    ticks = nice_ticks(min(lows), max(highs), Y_TICKS)
    y_min, y_max = ticks[0], ticks[-1]
    span_s = (last - first).total_seconds()

    def x(at: datetime) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (at - first).total_seconds() / span_s

    def y(value: float) -> float:
        return plot_bottom - (plot_bottom - plot_top) * (value - y_min) / (y_max - y_min)

    out = [f'<g class="panel"><text x="{LEFT}" y="{top + 14}" font-size="13">{escape(title)}'
           "</text>"]
    legend_x = float(WIDTH - RIGHT)
    for line in reversed(lines):
        out.append(f'<text x="{legend_x:.0f}" y="{top + 30}" text-anchor="end" '
                   f'fill="{line.colour}">{escape(line.label)}</text>')
        legend_x -= 8 + 6.5 * len(line.label)
    for tick in ticks:
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                   'stroke="#ddd"/>'
                   f'<text class="y-tick" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" '
                   f'text-anchor="end">{tick:g}</text>')
    for at, text in time_ticks(first, last, tz):
        out.append(f'<text class="x-tick" x="{x(at):.1f}" y="{plot_bottom + 16}" '
                   f'text-anchor="middle">{text}</text>')
    for mark in marks:
        dash = ' stroke-dasharray="5,4"' if mark.dashed else ""
        out.append(f'<g class="mark"><line x1="{x(mark.at):.1f}" x2="{x(mark.at):.1f}" '
                   f'y1="{plot_top}" y2="{plot_bottom}" stroke="{mark.colour}"{dash}/>')
        if mark.written:
            out.append(f'<text x="{x(mark.at) - 3:.1f}" y="{plot_top + 2}" font-size="9" '
                       f'text-anchor="end" transform="rotate(-90 {x(mark.at) - 3:.1f} '
                       f'{plot_top + 2})">{escape(mark.label)}</text>')
        out.append(f"<title>{escape(mark.label)} {mark.at.astimezone(tz):%H:%M}</title></g>")
    for line in lines:
        points = line.points
        out.append(f'<g class="series" fill="{line.colour}" stroke="{line.colour}">'
                   f"<title>{escape(line.label)}</title>")
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


def nice_ticks(low: float, high: float, count: int) -> list[float]:
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


def time_ticks(first: datetime, last: datetime, tz: ZoneInfo) -> list[tuple[datetime, str]]:
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
