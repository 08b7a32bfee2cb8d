"""The moment the demo tests seed at: a Wednesday at 10:40 in Harbor Point's zone, in the week
after the tests' moment, so the clinic is open and infusions are under way whatever today is."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ketaclinic import clock

HARBOR_POINT = ZoneInfo("America/New_York")


def working_morning() -> datetime:
    """The next Wednesday (a week on if today is one), 10:40 at Harbor Point."""
    today = clock.now().astimezone(HARBOR_POINT).date()
    day = today + timedelta(days=(2 - today.weekday()) % 7 or 7)
    return datetime.combine(day, time(10, 40), tzinfo=HARBOR_POINT)
