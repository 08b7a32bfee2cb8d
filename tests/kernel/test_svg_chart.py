"""The server's SVG charts: buckets are the points grouped by equal stretches of time (bounded
in number, each keeping its lowest and highest point), and marks are drawn where they fall."""

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.kernel.svg_chart import Bucket, Line, Mark, buckets, chart_svg

START = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
moments = st.lists(st.integers(min_value=0, max_value=7200 * 10**6), max_size=300).map(
    lambda offsets: [START + timedelta(microseconds=o) for o in sorted(offsets)])


def by_stretch(points: list[tuple[datetime, float]], count: int) -> list[Bucket]:
    """The points grouped by the stretch each falls in, written plainly."""
    first, last = points[0][0], points[-1][0]
    width = (last - first) / (1 if last == first else count) or timedelta(seconds=1)
    stretches: dict[int, list[tuple[datetime, float]]] = {}
    for at, value in points:
        stretches.setdefault(min((at - first) // width, count - 1), []).append((at, value))
    return [Bucket(group[len(group) // 2][0], min(v for _, v in group),
                   max(v for _, v in group), sum(v for _, v in group) / len(group))
            for group in stretches.values()]


@given(moments, st.integers(min_value=1, max_value=80), st.data())
def test_buckets_group_points_by_stretch_and_keep_each_extreme(times, count, data) -> None:
    values = data.draw(st.lists(st.floats(min_value=30, max_value=250), min_size=len(times),
                                max_size=len(times)))
    points = list(zip(times, values, strict=True))
    drawn = buckets(points, count)
    if len(points) <= count:
        assert drawn == [Bucket(at, v, v, v) for at, v in points]
        return
    assert drawn == by_stretch(points, count)
    assert len(drawn) <= count
    assert min(b.low for b in drawn) == min(values) and max(b.high for b in drawn) == max(values)


def test_after_empty_stretches_the_last_one_still_holds_every_later_point() -> None:
    # 1,000,001 microseconds in 7 stretches: each 142,857 long once rounded, so the last point
    # falls past the seventh stretch's nominal end and still belongs to it
    offsets = [0, 1, 2, 3, 4, 5, 999_000, 1_000_001]
    points = [(START + timedelta(microseconds=o), 100.0 + o % 7) for o in offsets]
    drawn = buckets(points, 7)
    assert drawn == by_stretch(points, 7)
    assert len(drawn) == 2


def test_marks_widen_the_span_and_are_labelled() -> None:
    readings = [Bucket(START + timedelta(minutes=m), 120.0, 120.0, 120.0) for m in range(3)]
    svg = chart_svg("c", "A chart", [("", [Line("Systolic", "#b3261e", readings)])],
                    "America/New_York", timedelta(minutes=30),
                    [Mark(START + timedelta(minutes=50), "dose end", "#555", dashed=True),
                     Mark(START + timedelta(minutes=1), "nausea", "#e0b84c", written=False)])
    assert svg.count('class="mark"') == 2 and 'stroke-dasharray="5,4"' in svg
    assert ">dose end</text>" in svg and ">nausea</text>" not in svg
    assert "<title>nausea 01:31</title>" in svg  # the tooltip in the clinic's time zone
    ticks = re.findall(r'class="x-tick"[^>]*>([^<]*)<', svg)
    assert ticks[0] == "01:30" and ticks[-1] == "02:20", "the axis reaches the mark at 02:20"


def test_nothing_to_draw_is_no_chart() -> None:
    assert chart_svg("c", "A chart", [("", [Line("Systolic", "#b3261e", [])])],
                     "America/New_York", timedelta(minutes=30)) == ""
