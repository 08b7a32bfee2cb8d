"""Course plans: IV induction never on consecutive days unless the prescriber allows it, and a
clinic open four days a week can still plan its induction."""

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.knowledge.courses import WEEKDAYS, PlanError, plan

MONDAY = date(2027, 3, 1)


def days(course: object) -> list[date]:
    return [s.day for s in course.sessions]  # type: ignore[attr-defined]


def test_a_week_open_monday_to_friday_gives_monday_wednesday_friday() -> None:
    course = plan(route="iv", start=MONDAY)
    assert [d.strftime("%a") for d in days(course)] == ["Mon", "Wed", "Fri"] * 2
    assert "MURROUGH-2013" in course.source


def test_a_friday_start_does_not_put_monday_and_tuesday_together() -> None:
    course = plan(route="iv", start=MONDAY + timedelta(days=4))
    gaps = [(b - a).days for a, b in pairwise(days(course))]
    assert min(gaps) >= 2, days(course)


def test_a_monday_to_thursday_clinic_plans_twice_a_week_over_three_weeks() -> None:
    closed = ("fri", "sat", "sun")
    course = plan(route="iv", start=MONDAY, closed_weekdays=closed)
    assert len(course.sessions) == 6
    assert all(d.strftime("%a") in ("Mon", "Tue", "Wed", "Thu") for d in days(course))
    assert min((b - a).days for a, b in pairwise(days(course))) >= 2
    assert {s.phase for s in course.sessions} == {"induction, twice a week"}
    assert days(course)[-1] - days(course)[0] < timedelta(days=21)


def test_a_monday_to_thursday_clinic_plans_three_a_week_when_the_prescriber_allows_it() -> None:
    course = plan(route="iv", start=MONDAY, closed_weekdays=("fri", "sat", "sun"),
                  allow_consecutive=True)
    assert [d.strftime("%a") for d in days(course)] == ["Mon", "Wed", "Thu"] * 2
    assert {s.phase for s in course.sessions} == {"induction, three a week"}


def test_a_week_too_short_for_any_schedule_is_refused() -> None:
    with pytest.raises(PlanError, match="too few open days"):
        plan(route="iv", start=MONDAY, closed_weekdays=("tue", "wed", "thu", "fri", "sat", "sun"))


@given(st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)),
       st.sets(st.sampled_from(WEEKDAYS), max_size=3))
def test_iv_induction_is_never_on_consecutive_days(start: date, closed: set[str]) -> None:
    try:
        course = plan(route="iv", start=start, closed_weekdays=tuple(sorted(closed)))
    except PlanError:
        return
    assert len(course.sessions) == 6
    assert all((b - a).days >= 2 for a, b in pairwise(days(course)))
    assert all(WEEKDAYS[d.weekday()] not in closed for d in days(course))
    assert days(course) == sorted(days(course)) and days(course)[0] >= start
