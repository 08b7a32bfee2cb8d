"""Reading how often a medication is taken from free-text frequencies (a prescription's sig:
'BID', 'twice daily', 'Take 1 tablet by mouth 2 (two) times a day.', 'every 8 hours')."""

import re
from bisect import bisect_right

_UNITS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
# Numbers in words up to 99, as sigs and SNOMED's frequency qualifiers spell them ('every
# seventy two hours', 'every twenty-four hours').
_NUMBER_WORDS = {
    **{word: n for n, word in enumerate(_UNITS, start=1)},
    **{word: n for n, word in enumerate(_TEENS, start=10)},
    **{tens: 10 * n for n, tens in enumerate(_TENS, start=2)},
    **{f"{tens}{joint}{unit}": 10 * n + m for n, tens in enumerate(_TENS, start=2)
       for m, unit in enumerate(_UNITS, start=1) for joint in (" ", "-")}}
# Ordinals, as in 'every third day' (every 3 days).
_ORDINALS = {"second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12}
_ONCE = {"once": 1, "twice": 2, "thrice": 3}
# Latin, British and US pharmacy abbreviations, as written in records (dots are dropped first:
# b.i.d.): those that count doses, and those that name one time a day (after the times of day
# a sig names: 'qam and qhs' is two doses).
_COUNTED = {"bid": 2.0, "bd": 2.0, "tid": 3.0, "tds": 3.0, "qid": 4.0, "qds": 4.0, "qod": 0.5,
            "qow": 1 / 14, "biw": 2 / 7, "tiw": 3 / 7, "qwk": 1 / 7, "qmo": 1 / 30}
_ONCE_ABBREVIATIONS = ("qd", "qday", "od", "qam", "qpm", "qhs", "hs", "qn", "mane", "nocte")
# The longest words first, so that 'twenty four' is not read as 'twenty'.
_WORDS = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_COUNT = (r"(\d+(?:\.\d+)?|" + _WORDS + "|" + "|".join(_ORDINALS) + r")(?:st|nd|rd|th)?")
_PER = r"\s*(?:a|per|/|each|every)?\s*"
_DAY = r"(?:day|daily|d)\b"
_WEEK = r"(?:week|weekly|wk)\b"
# A count of doses needs its 'times' ('2 times a day', '3x daily'); a bare number before 'day'
# is a duration or a dose ('for 7 days', 'take 2 daily' is two tablets once a day).
_TIMES = r"\b" + _COUNT + r"\s*(?:times?|x)"
_ONCE_WORD = r"\b(" + "|".join(_ONCE) + ")"
_EVERY = r"\b(?:every|q)\s*" + _COUNT + r"\s*(?:(?:-|to)\s*(?:\d+(?:\.\d+)?|" + _WORDS + r")\s*)?"
_HOURS = r"(?:h|hrs?|hours?)\b"
_DAYS = r"(?:d|days?)\b"
_WEEKS = r"(?:wks?|weeks?)\b"
_MONTHS = r"(?:mos?|months?)\b"
_AS_NEEDED = re.compile(r"\b(prn|as needed|when needed|if needed|when required|as required)\b")
_SPELLED_OUT = re.compile(r"\(\s*(?:" + _WORDS + r")\s*\)")
_LETTER_DOT = re.compile(r"(?<=\b[a-z])\.")
_ONCE_A_DAY = re.compile(r"\b(daily|every day|each day|a day|nightly|at bedtime|every night|"
                         r"every morning|every evening|in the morning|in the evening)\b")
_EVERY_OTHER_DAY = re.compile(r"\b(?:every other|alternate) (?:day|night|morning|evening)s?\b")
_WEEKLY = re.compile(r"\b(weekly|every week|once a week|q\s?wk|q\s?week)\b")
_MONTHLY = re.compile(r"\b(monthly|every month|once a month|q\s?month)\b")
# The times of day a sig can name, each once a day ('in the morning and at bedtime' is two
# doses): a meal stands for its time of day, and meals for all three ('ac and hs' is four).
_TIMES_OF_DAY = tuple(re.compile(rf"\b({words})\b") for words in (
    r"mornings?|qam|am|mane|on waking|upon waking|breakfast",
    r"noon|midday|lunch|lunchtime",
    r"afternoons?",
    r"evenings?|qpm|pm|dinner|supper|teatime",
    r"bedtime|nights?|nightly|qhs|hs|nocte|qn"))
_MEALS = re.compile(r"\b(with meals|with each meal|before meals|after meals|ac|pc)\b")
_MEAL_TIMES = frozenset({0, 1, 3})  # morning, noon, evening
# A count of doses a day and, joined to it, a dose at bedtime besides ('tid and qhs', 'bid and
# hs', 'three times a day and at bedtime'): the count and one more.
_COUNT_AND_BEDTIME = re.compile(
    r"\b(?:bid|bd|tid|tds|qid|qds|(?:times?|x|twice|thrice)\s*(?:a|per|/|each)?\s*(?:day|daily))"
    r"\s*,?\s*(?:and|&|plus)\s+(?:at\s+|in the\s+)?(?:bedtime|hs|qhs|night|nightly)\b")
# A dose the sig allows besides its count ('may repeat once', 'may take an extra tablet at
# bedtime'): counted, as a range is read at its most often.
_MAY_ADD_ONE = re.compile(r"\bmay (?:repeat\b(?: (?:once|one time|x ?1)\b)?|take (?:an? |one )?"
                          r"(?:extra|additional|another|more)\b)")
# When each time of day begins, in minutes after midnight (morning 4:00, noon 11:00, afternoon
# 14:00, evening 17:00, bedtime and night 21:00 to midnight): the words' ordinary sense, to
# tell whether a clock time is the dose a time of day names.
_SLOT_STARTS = (4 * 60, 11 * 60, 14 * 60, 17 * 60, 21 * 60)
# The days of the week a sig names, in full or abbreviated, Monday first ('Mondays', 'Tues').
_DAY_NAMES = (("monday", "mon"), ("tuesday", "tues", "tue"), ("wednesday", "weds", "wed"),
              ("thursday", "thurs", "thur", "thu"), ("friday", "fri"), ("saturday", "sat"),
              ("sunday", "sun"))
_DAY_NUMBER = {name: day for day, names in enumerate(_DAY_NAMES) for name in names}
# 'sat' and 'sun' are other words too ('avoid sun'): days only beside another day or after
# 'except'.
_AMBIGUOUS_DAYS = frozenset({"sat", "sun"})
_A_DAY = r"(" + "|".join(sorted(_DAY_NUMBER, key=len, reverse=True)) + r")s?"
_WEEKDAY = re.compile(r"\b" + _A_DAY + r"\b")
_DAY_RANGE = re.compile(r"\b" + _A_DAY + r"\s*(?:-|\u2013|to|through|thru)\s*" + _A_DAY + r"\b")
_SEPARATOR = r"[\s/,-]*"
# Days written as letters, as US sigs do ('MWF', 'T/Th', 'M-F'), and as 'weekdays'.
_DAY_LETTERS = (
    (re.compile(r"\bm\s*-\s*f\b|\bweekdays?\b"), frozenset(range(5))),
    (re.compile(rf"\bm{_SEPARATOR}w{_SEPARATOR}f\b"), frozenset({0, 2, 4})),
    (re.compile(rf"\bt(?:u|ue|ues)?{_SEPARATOR}th\b"), frozenset({1, 3})),
    (re.compile(r"\bweekends?\b"), frozenset({5, 6})))
_EXCEPT = re.compile(r"\b(?:except|excluding|but not|other than|skipping|skip|not on)\b")
# An amount of one dose: its number and unit ('0.5 mg', '2 tablets'), the unit's spellings as one.
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|micrograms?|g|ml|tablets?|tabs?|capsules?|caps?)\b")
_SAME_UNIT = {"tab": "tablet", "cap": "capsule", "microgram": "mcg"}
# An amount with no unit before the time of day it is taken ('1 at noon, 2 at bedtime'); not a
# clock time ('at 10 at night').
_BARE_AMOUNT = re.compile(
    r"(?<!at )(?<![\d.:])(\d+(?:\.\d+)?)\s+(?=(?:at|in the|with|before|after)\s+(?:morning|noon|"
    r"midday|lunch|afternoon|evening|night|bedtime|breakfast|dinner|supper)\b)")
# A ceiling the sig adds ('max 4 mg a day', 'not to exceed 3 tablets'): not a dose of its own.
_CEILING = re.compile(r"\b(?:max(?:imum)?|not to exceed|do not exceed|no more than|up to)\b[^,.;()]*")
# Clock times: '8am', '8:00 p.m.' (dots already dropped), '20:00'.
_CLOCK_12 = re.compile(r"\b(\d{1,2})(?::([0-5]\d))?\s*(am|pm)\b")
_CLOCK_24 = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
# Steps over days ('tid x 3 days then bid'): a sig naming a duration or a change of dose, then
# the next step.
_STEP = re.compile(r"\bthen\b|\bfollowed by\b")
_STEPS_OVER_DAYS = re.compile(r"\b(?:for|x)\s*" + _COUNT + r"\s*(?:days?|d|nights?|weeks?|wks?|months?)\b"
                              r"|\b(?:increase|decrease|reduce|taper|titrate)")


def _number(text: str) -> float:
    return float(_NUMBER_WORDS.get(text) or _ONCE.get(text) or _ORDINALS.get(text) or text)


def _read(text: str) -> float | None:
    """Doses a day in normalised text: the doses on a day it is taken, on the days of the week
    it names."""
    slots = {slot for slot, time_of_day in enumerate(_TIMES_OF_DAY) if time_of_day.search(text)}
    slots |= _MEAL_TIMES if _MEALS.search(text) else set()
    clock = _clock_times(text)
    # a time of day with no clock time in it is a dose of its own ('in the morning and at
    # 20:00' is two); one a clock time falls in is that dose ('at bedtime, 22:00' is one)
    named = len(clock) + len(slots - {_slot_of(minute) for minute in clock})
    count, on_each_day = _doses(text, named)
    if count is not None and on_each_day:
        count = _with_doses_besides(text, count, named)
    days = _days_a_week(text)
    if days is None or not on_each_day:
        return count
    return (count or 1.0) * days / 7  # 'every Monday': once on each day named


def _with_doses_besides(text: str, count: float, named: int) -> float:
    """A day's count with the doses the sig names besides it: a time of day beyond the meals a
    count is taken with ('tid with meals and at bedtime' is four, 'qid ac and hs' four), a
    bedtime dose joined to the count ('tid and qhs'), and one it allows ('may repeat once')."""
    if _MEALS.search(text):
        count = min(max(count, float(named)), count + max(named - len(_MEAL_TIMES), 0))
    elif _COUNT_AND_BEDTIME.search(text):
        count += 1
    return count + 1 if _MAY_ADD_ONE.search(text) else count


def _doses(text: str, named: int) -> tuple[float | None, bool]:
    """Doses a day, the first pattern that says it, and whether that is a count on each day it
    is taken (not a rate over a week or several days, which named days do not scale)."""
    readings: tuple[tuple[str, float], ...] = (
        (_TIMES + _PER + _DAY, 1.0), (_ONCE_WORD + _PER + _DAY, 1.0),
        (_TIMES + _PER + _WEEK, 1 / 7), (_ONCE_WORD + _PER + _WEEK, 1 / 7))
    for pattern, scale in readings:
        if match := re.search(pattern, text):
            count = _number(match.group(1)) * scale
            return count or None, scale == 1.0
    for pattern, hours in ((_EVERY + _HOURS, 1.0), (_EVERY + _DAYS, 24.0),
                           (_EVERY + _WEEKS, 168.0), (_EVERY + _MONTHS, 720.0)):
        if match := re.search(pattern, text):
            every = _number(match.group(1)) * hours
            return (24.0 / every if every > 0 else None), every <= 24
    counted = [count for abbreviation, count in _COUNTED.items()
               if re.search(rf"\b{abbreviation}\b", text)]
    if counted:  # 'BID-TID': the most often it may be taken
        return max(counted), max(counted) >= 1
    if named > 1:
        return float(named), True
    if any(re.search(rf"\b{abbreviation}\b", text) for abbreviation in _ONCE_ABBREVIATIONS):
        return 1.0, True
    if _EVERY_OTHER_DAY.search(text):
        return 0.5, False
    if _WEEKLY.search(text):
        return 1 / 7, False
    if _MONTHLY.search(text):
        return 1 / 30, False
    if _ONCE_A_DAY.search(text) or named == 1:  # 'at night', 'with breakfast'
        return 1.0, True
    return None, True


def _days_named(text: str, *, lone_ambiguous: bool) -> set[int]:
    """The days of the week text names (Monday is 0): ranges, letters and names."""
    days: set[int] = set()
    for first, last in _DAY_RANGE.findall(text):
        start, end = _DAY_NUMBER[first], _DAY_NUMBER[last]
        days.update(day % 7 for day in range(start, end + 1 + (7 if end < start else 0)))
    text = _DAY_RANGE.sub(" ", text)
    for pattern, letters in _DAY_LETTERS:
        if pattern.search(text):
            days.update(letters)
    names = set(_WEEKDAY.findall(text))
    if not lone_ambiguous and not days and names <= _AMBIGUOUS_DAYS and len(names) < 2:
        return days
    return days | {_DAY_NUMBER[name] for name in names}


def days_a_week(text: str) -> int | None:
    """How many days of the week a sig names ('Mon, Wed, Fri' 3; 'Monday to Friday' 5; 'daily
    except Sunday' 6), or None when it names none."""
    return _days_a_week(_normalised(text))


def _days_a_week(text: str) -> int | None:
    taken, *excepted = _EXCEPT.split(text, maxsplit=1)
    days = _days_named(taken, lone_ambiguous=False)
    skipped = _days_named(excepted[0], lone_ambiguous=True) if excepted else set()
    if not days and not skipped:
        return None
    return len((days or set(range(7))) - skipped) or None


def _clock_times(text: str) -> set[int]:
    """The different clock times the text names, as minutes after midnight ('at 8am, 2pm and
    8pm' three)."""
    minutes = {(int(hour) % 12 + (12 if half == "pm" else 0)) * 60 + int(minute or 0)
               for hour, minute, half in _CLOCK_12.findall(text)}
    minutes |= {int(hour) * 60 + int(minute)
                for hour, minute in _CLOCK_24.findall(_CLOCK_12.sub(" ", text))}
    return minutes


def _slot_of(minute: int) -> int:
    """The time of day (an index of _TIMES_OF_DAY) a clock time falls in; the small hours,
    after midnight and before the morning, are a time no word names ('at 2am and at bedtime'
    is two doses)."""
    return bisect_right(_SLOT_STARTS, minute) - 1 if minute >= _SLOT_STARTS[0] else len(_SLOT_STARTS)


def _unequal_amounts(text: str) -> bool:
    """Whether the text gives doses of different amounts ('1 mg in the morning and 2 mg at
    bedtime'; '1 tablet in the morning, 1 at noon and 2 at bedtime', an amount with no unit
    being in the unit the sig gives): the day's dose is then not one dose times a count."""
    text = _CEILING.sub(" ", text)
    amounts: dict[str, set[float]] = {}
    for value, unit in _AMOUNT.findall(text):
        unit = unit.rstrip("s")
        amounts.setdefault(_SAME_UNIT.get(unit, unit), set()).add(float(value))
    bare = {float(value) for value in _BARE_AMOUNT.findall(_AMOUNT.sub(" ", text))}
    if bare:
        units = list(amounts) if len(amounts) == 1 else [""]
        amounts.setdefault(units[0], set()).update(bare)
    return any(len(values) > 1 for values in amounts.values())


def times_per_day(text: str) -> float | None:
    """Doses per day for text such as 'twice daily', 'TID', 'b.i.d.', 'every 8 hours', '2 (two)
    times a day', '3 times weekly', 'in the morning and at bedtime'; None if unknown, taken as
    needed, or different amounts at different times of day ('1 mg in the morning and 2 mg at
    bedtime': the day's dose is not one dose times a count), or steps over days taken at
    different rates ('tid x 3 days then bid'). A duration ('daily for 7 days', 'x 5 days') is
    never read as a number of doses."""
    value = _normalised(text)
    if not value or _AS_NEEDED.search(value) or _unequal_amounts(value):
        return None
    if not _STEPS_OVER_DAYS.search(value):
        return _read(value)
    steps = {found for step in _STEP.split(value) if (found := _read(step)) is not None}
    return steps.pop() if len(steps) == 1 else None  # steps taken as often, or not known


def _normalised(text: str) -> str:
    """Text in one case, without spelled-out numbers' brackets or abbreviations' dots."""
    return _LETTER_DOT.sub("", _SPELLED_OUT.sub(" ", text.casefold().strip()))


def times_per_day_from_timing(frequency: float | None, period: float | None,
                              unit: str | None) -> float | None:
    """Doses per day from a FHIR Timing.repeat (frequency per period in units s/min/h/d/wk)."""
    if not frequency or not period or not unit:
        return None
    days = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0}
    if unit not in days:
        return None
    return float(frequency) / (float(period) * days[unit])
