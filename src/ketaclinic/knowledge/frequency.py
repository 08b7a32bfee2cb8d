"""Reading how often a medication is taken from free-text frequencies."""

import re

_WORDS = {"once": 1, "twice": 2, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_ABBREVIATIONS = {"qd": 1.0, "od": 1.0, "qhs": 1.0, "hs": 1.0, "bid": 2.0, "tid": 3.0,
                  "qid": 4.0}
_EVERY_HOURS = re.compile(r"(?:every|q)\s*(\d+(?:\.\d+)?)\s*(?:h\b|hr|hours?)")
_TIMES_A_DAY = re.compile(
    r"(\d+|once|twice|one|two|three|four|five|six)\s*(?:times?|x)?\s*(?:a|per|/)?\s*"
    r"(?:day|daily|d\b)")
_AS_NEEDED = re.compile(r"\b(prn|as needed|when needed|if needed)\b")


def times_per_day(text: str) -> float | None:
    """Doses per day for text such as 'twice daily', 'TID', 'every 8 hours'; None if unknown."""
    value = text.casefold().strip()
    if not value or _AS_NEEDED.search(value):
        return None
    for abbreviation, count in _ABBREVIATIONS.items():
        if re.search(rf"\b{abbreviation}\b", value):
            return count
    if match := _EVERY_HOURS.search(value):
        hours = float(match.group(1))
        return 24.0 / hours if hours > 0 else None
    if match := _TIMES_A_DAY.search(value):
        word = match.group(1)
        return float(_WORDS.get(word, word if word.isdigit() else 0)) or None
    if re.search(r"\b(daily|every day|each day|nightly|at bedtime|every night|every morning)\b",
                 value):
        return 1.0
    if re.search(r"\bweekly\b", value):
        return 1.0 / 7.0
    return None


def times_per_day_from_timing(frequency: float | None, period: float | None,
                              unit: str | None) -> float | None:
    """Doses per day from a FHIR Timing.repeat (frequency per period in units s/min/h/d/wk)."""
    if not frequency or not period or not unit:
        return None
    days = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0}
    if unit not in days:
        return None
    return float(frequency) / (float(period) * days[unit])
