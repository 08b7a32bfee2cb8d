"""Business days as the DEA counts them: weekdays that are not federal holidays."""

from datetime import date

import pytest

from ketaclinic.knowledge import controlled_substances as rules
from ketaclinic.knowledge.business_days import business_days_after, federal_holiday


@pytest.mark.parametrize(("day", "count", "due"), [
    (date(2026, 11, 5), 1, date(2026, 11, 6)),  # Thursday: Friday
    (date(2026, 11, 6), 1, date(2026, 11, 9)),  # Friday: Monday
    (date(2026, 11, 25), 1, date(2026, 11, 27)),  # the day before Thanksgiving: Friday
    (date(2026, 7, 2), 1, date(2026, 7, 6)),  # Independence Day (a Saturday) observed Friday 3rd
    (date(2026, 12, 24), 1, date(2026, 12, 28)),  # Christmas on a Friday
    (date(2027, 12, 30), 1, date(2028, 1, 3)),  # New Year's Day 2028 observed Friday 31st
    (date(2026, 1, 16), 1, date(2026, 1, 20)),  # Martin Luther King Jr. Day, Monday 19th
    (date(2026, 11, 10), 2, date(2026, 11, 13)),  # Veterans Day (Wednesday 11th) skipped
    (date(2026, 11, 5), 0, date(2026, 11, 5)),
])
def test_a_federal_holiday_is_not_a_business_day(day: date, count: int, due: date) -> None:
    assert business_days_after(day, count) == due


def test_holidays_are_named_and_weekends_are_not_holidays() -> None:
    assert federal_holiday(date(2026, 11, 26)) == "Thanksgiving Day"
    assert federal_holiday(date(2026, 6, 19)) is not None  # Juneteenth
    assert federal_holiday(date(2026, 11, 27)) is None  # the Friday after: a business day


def test_the_loss_notice_rule_cites_the_holiday_law() -> None:
    assert "6103" in rules.loss_report_rule().holidays_source
