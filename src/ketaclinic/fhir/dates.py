"""FHIR date and dateTime values as the span of time they name. A year, a month or a day (the
partial dates FHIR allows) names no zone: it is read on the clinic's clock, `zone`, as FHIR has
a server assume its own zone for such a value; the 15th in New York is New York's 15th."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# What a FHIR date or dateTime may be, for messages naming the accepted forms.
ACCEPTED = "YYYY, YYYY-MM, YYYY-MM-DD or a date-time with its zone"


def span_of(value: str, zone: str, *, time_needs_zone: bool = False) -> tuple[datetime, datetime]:
    """The half-open span [start, end) a FHIR date or dateTime names: a year, a month or a day
    in `zone`, or one second from a date-time (one without its offset is read in `zone`, unless
    `time_needs_zone`); raises ValueError for anything else."""
    local = ZoneInfo(zone)
    text = value.strip()
    if len(text) == 4:
        year = int(text)
        return datetime(year, 1, 1, tzinfo=local), datetime(year + 1, 1, 1, tzinfo=local)
    if len(text) == 7 and text[4] == "-":
        year, month = int(text[:4]), int(text[5:7])
        return (datetime(year, month, 1, tzinfo=local),
                datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=local))
    if len(text) == 10:
        day = date.fromisoformat(text)
        start = datetime(day.year, day.month, day.day, tzinfo=local)
        following = day + timedelta(days=1)
        return start, datetime(following.year, following.month, following.day, tzinfo=local)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        if time_needs_zone:
            raise ValueError("a time without its zone")
        moment = moment.replace(tzinfo=local)
    return moment, moment + timedelta(seconds=1)
