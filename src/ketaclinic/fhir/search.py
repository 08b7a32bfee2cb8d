"""FHIR search parameter values: dates with prefixes, tokens, references, paging."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ketaclinic.errors import invalid
from ketaclinic.fhir.dates import ACCEPTED, span_of

DATE_PREFIXES = ("eq", "lt", "le", "gt", "ge")
MAX_COUNT = 200
DEFAULT_COUNT = 50


@dataclass(frozen=True)
class SearchPage:
    """A page of a search's matches, how many match in all, and (where the search keeps one)
    the cursor naming where the next page starts, so following it reads from there instead of
    counting down to it."""

    entries: list[dict[str, Any]]
    total: int
    next_cursor: str | None = None


@dataclass(frozen=True)
class DateRange:
    """A date search value as a half-open range [start, end), with its prefix."""

    prefix: str
    start: datetime
    end: datetime

    def matches(self, moment: datetime) -> bool:
        """Whether a moment satisfies the prefix against the range."""
        if self.prefix == "eq":
            return self.start <= moment < self.end
        if self.prefix == "lt":
            return moment < self.start
        if self.prefix == "le":
            return moment < self.end
        if self.prefix == "gt":
            return moment >= self.end
        return moment >= self.start  # ge


def parse_date(name: str, raw: str, zone: str = "UTC") -> DateRange:
    """`ge2026-01-01`, `lt2026-11`, `2026`, `eq2026-11-20T10:00:00Z` ... as a range. A date,
    month or year names no zone: it is the clinic's (`zone`), as FHIR has a server assume its
    own zone; the 15th searched in New York is New York's 15th, not London's."""
    prefix = raw[:2] if raw[:2] in DATE_PREFIXES else "eq"
    value = raw[2:] if raw[:2] in DATE_PREFIXES else raw
    try:
        start, end = span_of(value, zone, time_needs_zone=True)
    except ValueError:
        raise invalid(name, f"{raw!r} is not a FHIR date",
                      f"[{'|'.join(DATE_PREFIXES)}]{ACCEPTED}") from None
    return DateRange(prefix, start, end)


def parse_token(raw: str) -> tuple[str | None, str]:
    """`system|code` or `code` (system None: any)."""
    if "|" in raw:
        system, code = raw.split("|", 1)
        return system or None, code
    return None, raw


def reference_id(name: str, raw: str, resource_type: str = "Patient") -> str:
    """`Patient/123` or `123` as the id."""
    value = raw.split("/", 1)[1] if raw.startswith(f"{resource_type}/") else raw
    if not value or "/" in value:
        raise invalid(name, f"{raw!r} is not a {resource_type} reference", f"{resource_type}/<id>")
    return value


def parse_count(raw: str | None) -> int:
    """The page size, within 1 to MAX_COUNT."""
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit() or not 0 < int(raw) <= MAX_COUNT:
        raise invalid("_count", f"{raw!r} is not a page size", f"1 to {MAX_COUNT}")
    return int(raw)


def parse_offset(raw: str | None) -> int:
    """Where the page starts (the `_offset` our paging links carry)."""
    if raw is None:
        return 0
    if not raw.isdigit():
        raise invalid("_offset", f"{raw!r} is not an offset", "0 or more")
    return int(raw)
