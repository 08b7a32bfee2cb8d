"""How often a medicine is taken, read from its sig as records write it: a duration is never a
number of doses ('daily for 14 days' is once a day, not 14 times), a count per week is per week,
and the sigs EHRs print ('2 (two) times a day', 'b.i.d.') are read."""

from typing import Any

import pytest

from ketaclinic.fhir.record import record_from_bundle
from ketaclinic.knowledge.frequency import times_per_day
from ketaclinic.knowledge.screening import screen
from tests.fhir_builders import ON, baseline, bundle, medication


@pytest.mark.parametrize(("text", "expected"), [
    # a duration beside the frequency
    ("1 tablet daily for 7 days", 1), ("take 1 tablet by mouth daily for 14 days", 1),
    ("take 2 mg at bedtime for 10 days", 1), ("1 mg twice daily x 30 days", 2),
    ("daily 30 days", 1), ("2 times a day for 14 days", 2),
    # a duration alone, or a count of tablets, says nothing of how often
    ("5 days", None), ("10 mg x 5 days", None), ("take 2 daily", 1),
    # as EHRs print a sig
    ("Take 1 tablet by mouth 2 (two) times a day.", 2),
    ("Take 1 tablet by mouth 3 (three) times daily.", 3),
    ("Take 1 tablet by mouth every 8 (eight) hours.", 3),
    ("Take 1 tablet (10 mg total) by mouth daily.", 1),
    ("Take 0.5 tablets by mouth nightly as needed for anxiety.", None),
    # abbreviations, with or without their dots
    ("b.i.d.", 2), ("1 tab PO t.i.d.", 3), ("1 mg q.h.s.", 1), ("1 mg p.o. q.d.", 1),
    ("QAM", 1), ("tds", 3), ("qod", 0.5), ("q8h", 3), ("q 6 hrs", 4),
    # per week, per few days
    ("3 times weekly", 3 / 7), ("twice a week", 2 / 7), ("weekly", 1 / 7),
    ("every other day", 0.5), ("q2d", 0.5), ("every other night", 0.5),
    ("1 mg at bedtime every other night", 0.5), ("on alternate nights", 0.5),
    ("alternate days", 0.5), ("every 72 hours", 1 / 3), ("every 2 weeks", 1 / 14),
    # a range of intervals: the most often it may be taken
    ("every 4 to 6 hours", 6), ("every 4-6 hours", 6),
    ("1 tablet 3x daily", 3), ("1 x daily", 1), ("nightly", 1), ("every morning", 1),
    # times of the day named: a dose at each
    ("1 tablet in the morning and 1 tablet at bedtime", 2), ("every morning and evening", 2),
    ("qam and qhs", 2), ("at 8 am and 8 pm", 2), ("with breakfast and dinner", 2),
    ("Take 1 tablet (0.5 mg total) by mouth in the morning and 1 tablet (0.5 mg total) at "
     "night", 2),
    ("1 tablet in the morning, at noon and at bedtime", 3), ("every night at bedtime", 1),
    ("twice daily, morning and evening", 2),
    # meals: three a day, each a time of day ('ac and hs' is four doses, not one)
    ("with meals", 3), ("1 tab before meals", 3), ("1 tab ac", 3), ("1 tab pc", 3),
    ("1 tab ac and hs", 4), ("with meals and at bedtime", 4), ("tid with meals", 3),
    ("with meals (breakfast, lunch and dinner)", 3),
    # a count with meals and another time of day: the meals' doses and that one besides
    ("1 tab tid with meals and at bedtime", 4), ("three times a day with meals and at bedtime", 4),
    ("1 tab tid ac and hs", 4), ("1 tab qid ac and hs", 4), ("tid with meals and at 22:00", 4),
    ("twice daily with meals and at bedtime", 3), ("once daily with a meal", 1),
    # a count and, joined to it, a dose at bedtime besides
    ("1 tab tid and qhs", 4), ("1 tab bid and hs", 3), ("1 tablet three times a day and at bedtime", 4),
    ("twice daily and at night", 3), ("twice daily, morning and night", 2),
    # a dose allowed besides the count: the most often it may be taken
    ("1 tab BID, may take an extra tab at bedtime", 3),
    ("take 1 tablet by mouth at bedtime and may repeat once", 2),
    ("1 tab at bedtime, may repeat once if needed", None),
    # SNOMED CT's frequency qualifiers, as records send them for a dosage's text
    ("Every four to six hours (qualifier value)\n", 6),
    ("Every seventy two hours (qualifier value)", 1 / 3),
    ("Every twenty four hours (qualifier value)", 1), ("every forty-eight hours", 0.5),
    ("Every twelve hours (qualifier value)", 2), ("At night (qualifier value)", 1),
    ("every seventeen days", 1 / 17), ("with breakfast", 1), ("weekly on Monday morning", 1 / 7),
    ("Every seventy two hours as needed (qualifier value)", None),
    # days of the week named: those days of each week, at each time of day named
    ("every Monday, Wednesday and Friday", 3 / 7), ("1 mg Monday morning", 1 / 7),
    ("on Mondays and Thursdays", 2 / 7), ("Monday and Thursday, morning and evening", 4 / 7),
    ("twice a week on Monday and Thursday", 2 / 7),
    # days abbreviated, in letters, as a range, or excepted
    ("1 tab Mon, Wed, Fri", 3 / 7), ("1 mg Mon morning", 1 / 7), ("1 tablet MWF", 3 / 7),
    ("1 tab M/W/F", 3 / 7), ("1 tab T/Th", 2 / 7), ("1 tab Tues and Thurs", 2 / 7),
    ("Sat and Sun", 2 / 7), ("1 mg Monday through Friday", 5 / 7), ("1 mg Mon-Fri", 5 / 7),
    ("1 tab M-F", 5 / 7), ("1 mg on weekdays", 5 / 7), ("1 mg at bedtime on weekends", 2 / 7),
    ("1 mg Fri to Mon", 4 / 7), ("daily except Sunday", 6 / 7), ("daily except Sun", 6 / 7),
    ("twice daily Monday to Friday", 10 / 7), ("every 12 hours Mon-Fri", 10 / 7),
    ("1 tablet daily except Sat and Sun", 5 / 7),
    # 'sun' and 'sat' alone are not days: the sig is read as it would be without them
    ("1 tablet daily, avoid sun", 1), ("1 tablet daily, sat upright", 1),
    # pharmacy abbreviations per week, month and day; a range of them at its most often
    ("1 tab biw", 2 / 7), ("1 tab tiw", 3 / 7), ("1 tab qwk", 1 / 7), ("1 tab q wk", 1 / 7),
    ("1 tab qmo", 1 / 30), ("1 tab monthly", 1 / 30), ("1 tab every 3 months", 1 / 90),
    ("1 tab qday", 1), ("1 tab BID-TID", 3), ("1 tab bid or tid", 3),
    # ordinals
    ("1 tab every third day", 1 / 3), ("1 tab every 3rd day", 1 / 3),
    ("1 tab every second week", 1 / 14),
    # clock times: a dose at each
    ("1 tab at 8am, 2pm and 8pm", 3), ("1 tab at 08:00, 14:00 and 20:00", 3),
    ("1 tab at 8:00 a.m. and 8:00 p.m.", 2), ("at 7:30 and 19:30", 2), ("at 21:00", 1),
    ("1 tab daily at 9 am", 1),
    # a time of day and a clock time: two doses, unless the clock time is that time of day
    ("1 mg in the morning and at 20:00", 2), ("0.25 mg qam and at 8pm", 2),
    ("at noon and 20:00", 2), ("with meals and at 22:00", 4), ("at 2am and at bedtime", 2),
    ("at 8pm and at bedtime", 2), ("1 tab at bedtime (22:00)", 1),
    ("in the morning at 8am and at bedtime at 10pm", 2), ("every evening at 6 pm", 1),
    # steps over days: read only when every step is taken as often
    ("1 tab tid x 3 days then bid x 3 days then daily", None),
    ("1 tab bid for 3 days, then 1 tab daily", None), ("1 tab bid x 7 days then continue bid", 2),
    ("1 tab in the morning then 1 tab at night", 2),
    ("1 tab at bedtime, then increase to 2 tablets at bedtime", None),
    # different amounts at different times: not one dose times a count
    ("0.5 mg 3 times a day and 1 mg at bedtime", None),
    # a ceiling beside the dose is not a second amount
    ("1 mg tid, max 4 mg/day", 3), ("0.5 mg twice daily, not to exceed 2 mg a day", 2),
    ("1 mg daily for 7 days then 0.5 mg daily", None),
    ("1 mg in the morning and 2 mg at bedtime", None),
    ("0.5 mg in the morning, 0.5 mg in the afternoon and 1 mg at bedtime", None),
    # an amount with no unit is in the sig's unit: different amounts, or the same
    ("take 1 tablet in the morning, 1 at noon, and 2 at bedtime", None),
    ("1 tab in the morning and 2 at bedtime", None), ("1 in the morning and 1 at night", 2),
    ("1 tablet in the morning and 1 at bedtime", 2), ("take 2 at bedtime", 1),
    ("1 tablet at 10 at night", 1),
])
def test_a_sig_is_read_as_doses_a_day(text: str, expected: float | None) -> None:
    found = times_per_day(text)
    assert found == (None if expected is None else pytest.approx(expected)), text


def _sig(resource: dict[str, Any], mg: float, text: str) -> dict[str, Any]:
    resource["dosage"] = [{"text": text, "doseAndRate": [{"doseQuantity": {
        "value": mg, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}]}]
    return resource


def _load(*resources: dict[str, Any]) -> list[str]:
    result = screen(record_from_bundle(bundle(*baseline(), *resources)), route="iv", on=ON)
    return [f.message for f in result.findings if f.rule.startswith("benzodiazepine-")]


def test_a_course_of_days_is_not_read_as_doses_a_day() -> None:
    """Lorazepam 0.5 mg daily for 14 days is 5 mg diazepam a day, under the line; it was read
    as 14 doses a day, 70 mg, and flagged for a taper."""
    lorazepam = _sig(medication("6470", "lorazepam"), 0.5, "Take 0.5 mg by mouth daily for 14 days")
    assert _load(lorazepam) == []


def test_an_ehr_sig_gives_the_day_s_dose_and_the_load_is_judged() -> None:
    """Clonazepam 0.25 mg '2 (two) times a day' is 10 mg diazepam a day, above the line; the sig
    was not read, and the finding only asked for the dose to be recorded."""
    clonazepam = _sig(medication("2598", "clonazepam"), 0.25,
                      "Take 0.25 mg by mouth 2 (two) times a day.")
    [message] = _load(clonazepam)
    assert message.startswith("Benzodiazepines amount to 10 mg diazepam-equivalent a day")


def test_a_dose_at_two_times_of_day_is_two_doses() -> None:
    """Clonazepam 0.25 mg 'in the morning and at bedtime' is 10 mg diazepam a day, above the
    line; it was read as once a day (5 mg) and passed."""
    clonazepam = _sig(medication("2598", "clonazepam"), 0.25,
                      "Take 1 tablet (0.25 mg total) by mouth in the morning and at bedtime.")
    [message] = _load(clonazepam)
    assert message.startswith("Benzodiazepines amount to 10 mg diazepam-equivalent a day")


def test_a_time_of_day_and_a_clock_time_are_two_doses() -> None:
    """Alprazolam 0.25 mg 'in the morning and at 8 pm' is 0.5 mg a day, 10 mg diazepam, above
    the line; the time of day and the clock time were each read as the day's only dose (the
    larger count of the two, one), 5 mg, and the load passed."""
    alprazolam = _sig(medication("596", "alprazolam"), 0.25,
                      "Take 0.25 mg by mouth in the morning and at 8 pm")
    [message] = _load(alprazolam)
    assert message.startswith("Benzodiazepines amount to 10 mg diazepam-equivalent a day")


def test_different_amounts_by_time_of_day_ask_for_the_day_s_dose() -> None:
    """Lorazepam '1 mg in the morning and 2 mg at bedtime' sent with a dose of 1 mg is 3 mg a
    day (30 mg diazepam); read as 1 mg once a day, the load was understated. The day's dose is
    not one dose times a count, so it is asked for, not guessed."""
    lorazepam = _sig(medication("6470", "lorazepam"), 1, "1 mg in the morning and 2 mg at bedtime")
    [message] = _load(lorazepam)
    assert "10 mg diazepam" not in message
    assert "dose" in message


def test_a_dose_on_every_day_but_one_is_not_a_weekly_dose() -> None:
    """Lorazepam 1 mg 'daily except Sunday' is 1 mg on six days of the week, about 8.6 mg
    diazepam a day, above the line; the named day was read as the only day (1.4 mg) and the
    load passed. 2 mg 'Monday-Friday' was two days, not five (5.7 mg against 14.3)."""
    except_sunday = _sig(medication("6470", "lorazepam"), 1, "1 mg daily except Sunday")
    [message] = _load(except_sunday)
    assert message.startswith("Benzodiazepines amount to 8.57 mg diazepam-equivalent a day")
    weekdays = _sig(medication("6470", "lorazepam"), 2, "2 mg at bedtime Monday-Friday")
    [message] = _load(weekdays)
    assert message.startswith("Benzodiazepines amount to 14.29 mg diazepam-equivalent a day")


def test_a_dose_before_meals_and_at_bedtime_is_four_doses() -> None:
    """Lorazepam 0.5 mg 'ac and hs' (before meals and at bedtime) is 2 mg a day, 20 mg
    diazepam, above the line; meals were not read, so it was once a day (5 mg) and passed. A
    dose three times a day and a larger one at bedtime is not one dose times four: asked for."""
    four_times = _sig(medication("6470", "lorazepam"), 0.5, "0.5 mg po ac and hs")
    [message] = _load(four_times)
    assert message.startswith("Benzodiazepines amount to 20 mg diazepam-equivalent a day")
    uneven = _sig(medication("6470", "lorazepam"), 0.5, "0.5 mg 3 times a day and 1 mg at bedtime")
    [message] = _load(uneven)
    assert "diazepam-equivalent a day" not in message and "dose" in message


def test_a_count_with_meals_and_a_bedtime_dose_is_read_as_both() -> None:
    """Diazepam 2.5 mg 'tid with meals and at bedtime' (tid ac and hs) is four doses, 10 mg a
    day, above the line; the count was read alone, three doses (7.5 mg), and the load passed.
    At bedtime every other night is half a dose a day, not one."""
    four_times = _sig(medication("3322", "diazepam"), 2.5,
                      "2.5 mg po tid with meals and at bedtime")
    [message] = _load(four_times)
    assert message.startswith("Benzodiazepines amount to 10 mg diazepam-equivalent a day")
    alternate = _sig(medication("6470", "lorazepam"), 2, "2 mg at bedtime every other night")
    [message] = _load(alternate)
    assert message.startswith("Benzodiazepines amount to 10 mg diazepam-equivalent a day")


def test_a_dosage_given_as_snomed_s_frequency_text_is_read() -> None:
    """Lorazepam 1 mg 'Every twelve hours (qualifier value)', the text a record carries for
    SNOMED CT's frequency qualifier, is 2 mg a day (20 mg diazepam, above the line); 'At night'
    alone is once a day. Number words above twelve ('every seventy two hours') and one time of
    day alone were not read at all."""
    twice = _sig(medication("6470", "lorazepam"), 1, "Every twelve hours (qualifier value)")
    [message] = _load(twice)
    assert message.startswith("Benzodiazepines amount to 20 mg diazepam-equivalent a day")
    nightly = _sig(medication("6470", "lorazepam"), 1, "At night (qualifier value)")
    [message] = _load(nightly)
    assert message.startswith("Benzodiazepines amount to 10 mg diazepam-equivalent a day")
