"""Response, review cards, relapse and the rate interval, without a database."""

from datetime import date, timedelta

import pytest

from ketaclinic.knowledge.outcomes import Point, lines, relapse, review, wilson_interval
from ketaclinic.knowledge.ruleset import default_ruleset

DAY = date(2026, 1, 5)
SHIPPED = default_ruleset()


def points(*totals: int) -> list[Point]:
    return [Point(DAY + timedelta(days=3 * i), t) for i, t in enumerate(totals)]


@pytest.mark.parametrize(("latest", "state"), [(10, "responder"), (11, "partial"), (15, "partial"),
                                               (16, "non-responder")])
def test_review_states_at_the_50_and_25_percent_lines(latest: int, state: str) -> None:
    assert review("phq9", points(20, 18, latest), SHIPPED).state == state


def test_remission_is_instrument_specific() -> None:
    for key, remitted, not_yet in (("phq9", 4, 5), ("qids16", 5, 6)):
        assert review(key, points(20, remitted), SHIPPED).remission
        assert not review(key, points(20, not_yet), SHIPPED).remission


def test_pcl5_response_is_a_fall_of_10_points() -> None:
    assert lines("pcl5", 50).response_at_or_below == 40
    assert review("pcl5", points(50, 40), SHIPPED).state == "responder"


def test_relapse_needs_a_response_first_two_measures_past_the_line_and_is_the_current_state(
) -> None:
    assert relapse("phq9", points(20, 18, 17, 19, 20), []) is None
    assert relapse("phq9", points(20, 9, 8, 14), [DAY + timedelta(days=6)]) is None  # one only
    flag = relapse("phq9", points(20, 9, 8, 14, 15), [DAY + timedelta(days=6)])
    assert flag is not None and flag.relapsed.total == 14 and flag.evidence[-1].total == 15
    assert flag.benefit_days == 3 and flag.suggested_interval_days == 7
    assert "SUSTAIN-1" in flag.source
    assert relapse("phq9", points(20, 9, 14, 8, 9), []) is None  # responded again


def test_a_minimal_baseline_cannot_show_a_response_and_worsening_is_flagged() -> None:
    minimal = review("phq9", points(4, 2, 1), SHIPPED)
    assert minimal.state == "not-assessable" and "minimal band" in minimal.advice
    worse = review("phq9", points(12, 14, 17), SHIPPED)
    assert worse.state == "worsened" and "worsened by 5" in worse.advice
    assert review("phq9", points(12, 14, 16), SHIPPED).state == "non-responder"


def test_wilson_interval() -> None:
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.404, abs=0.001) and high == pytest.approx(0.596, abs=0.001)
    assert wilson_interval(0, 0) == (0.0, 0.0)
