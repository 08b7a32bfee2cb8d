"""Business days as a federal agency counts them: Monday to Friday, except the US federal
holidays (5 U.S.C. 6103) on the days they are observed, as the `holidays` package lists them."""

from datetime import date, timedelta
from functools import cache

import holidays


@cache
def _federal(year: int) -> dict[date, str]:
    return dict(holidays.country_holidays("US", years=year, observed=True))


def federal_holiday(day: date) -> str | None:
    """The federal holiday observed on the day, by name, or None."""
    return _federal(day.year).get(day)


def is_business_day(day: date) -> bool:
    """Whether a federal office is open on the day (a weekday that is not a federal holiday)."""
    return day.weekday() < 5 and federal_holiday(day) is None


def business_days_after(day: date, count: int) -> date:
    """The date `count` business days after a day (the day itself not counted)."""
    current = day
    while count > 0:
        current += timedelta(days=1)
        if is_business_day(current):
            count -= 1
    return current
