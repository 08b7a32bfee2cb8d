"""The clinic's clock: the one place in ketaclinic that asks the system for the time.

Everything else takes the time from here, or as a parameter (the pure knowledge functions take
`on`/`at` arguments and never read a clock). A demo or test process can be started at another
moment with the setting ``KETACLINIC_CLOCK_AT`` (ISO 8601 with an offset): the clock then reads
that moment at the first read and runs on from it at the normal rate; or, with
``KETACLINIC_CLOCK_AT_REAL_TIME`` too, it read that moment at that real time (Unix seconds) and
has run on since, so a process started by another keeps its parent's time exactly.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ketaclinic.settings import get_settings

_shift: timedelta | None = None


def _system_now() -> datetime:
    return datetime.now(UTC)


def _offset() -> timedelta:
    global _shift
    if _shift is None:
        settings = get_settings()
        start, real = settings.clock_at, settings.clock_at_real_time
        if start is None:
            _shift = timedelta(0)
        else:
            _shift = start - (_system_now() if real is None else datetime.fromtimestamp(real, UTC))
    return _shift


def now() -> datetime:
    """The current moment, timezone-aware UTC."""
    return _system_now() + _offset()


def today(zone: str | ZoneInfo) -> date:
    """Today's date in a time zone (a site's, a patient's, or "UTC")."""
    return now().astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone).date()


def date_in(moment: datetime, zone: str | ZoneInfo) -> date:
    """The date a moment falls on in a time zone: a record's day as the site's staff live it
    (21:00 in New York is the same day there, the next in UTC)."""
    return moment.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone).date()


def is_shifted() -> bool:
    """Whether the clock was set to another moment by the settings (demos and tests only)."""
    return get_settings().clock_at is not None
