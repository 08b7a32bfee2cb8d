"""Session monitoring: alarms, the vitals schedule, the pre-dose check and discharge criteria."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.knowledge.monitoring import (
    WATCHED_SIGNS,
    AlarmLimits,
    Observation,
    Reading,
    alarm_limits,
    alarms_for,
    chair_rules,
    discharge_missing,
    heart_rate_rule,
    may_alarm,
    new_alarms,
    next_reading_due,
    observation_ends,
    observation_of,
    override_covers,
    pre_dose_problem,
    pressure_limits,
)
from ketaclinic.knowledge.ruleset import default_ruleset

T0 = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def at(minutes: float, **values: float) -> Reading:
    return Reading(T0 + timedelta(minutes=minutes), **values)


SHIPPED = pressure_limits(default_ruleset())  # the rule set's pressures, no clinic override
ALARMS = alarm_limits(default_ruleset())  # its alarm limits, likewise
RULES = chair_rules(default_ruleset())  # all of them, as discharge takes them


def limit(name: str) -> float:
    """A shipped alarm limit."""
    return default_ruleset().value(f"alarm_{name}")


def observed(route: str) -> Observation:
    """A route's shipped minimum observation."""
    return observation_of(default_ruleset(), route)


def clinic(**overrides: float) -> AlarmLimits:
    """The alarm limits of a clinic overriding some (by their rule-set names)."""
    return alarm_limits(default_ruleset().with_overrides(overrides))

BASELINE = at(-5, systolic_mmhg=124, diastolic_mmhg=78, heart_rate_bpm=72, spo2_pct=98,
              respiratory_rate_per_min=14)


@pytest.mark.parametrize(("values", "kinds"), [
    ({"systolic_mmhg": 181}, {"systolic-high", "systolic-rise"}),
    ({"systolic_mmhg": 180}, {"systolic-rise"}),
    ({"systolic_mmhg": 89}, {"systolic-low"}),
    ({"diastolic_mmhg": 111}, {"diastolic-high", "diastolic-rise"}),
    ({"spo2_pct": 93}, {"spo2-low"}),
    ({"spo2_pct": 94}, set()),
    ({"respiratory_rate_per_min": 9}, {"respiratory-rate-low"}),
    ({"respiratory_rate_per_min": 23}, {"respiratory-rate-high"}),
    ({"systolic_mmhg": 164}, {"systolic-rise"}),
    ({"systolic_mmhg": 163}, set()),
    ({"diastolic_mmhg": 103}, {"diastolic-rise"}),
    ({"heart_rate_bpm": 130}, {"heart-rate-high"}),
    ({"heart_rate_bpm": 120}, set()),
    ({"heart_rate_bpm": 48}, {"heart-rate-low"}),
])
def test_alarm_limits(values: dict, kinds: set[str]) -> None:
    found = alarms_for(at(30, **values), BASELINE, ALARMS)
    assert {a.kind for a in found} == kinds
    for alarm in found:
        assert alarm.source and alarm.message


def test_only_a_reading_taken_after_the_baseline_rises_over_it() -> None:
    # 175 on arrival, re-measured after rest: a reading before the baseline, or the baseline
    # itself, is no rise over it; the same value after it is.
    rested = at(-5, systolic_mmhg=130, diastolic_mmhg=80)
    for before in (at(-10, systolic_mmhg=175, diastolic_mmhg=106), rested):
        assert alarms_for(before, rested, ALARMS) == []
        assert not may_alarm([before], rested, ALARMS)
    after = at(30, systolic_mmhg=175, diastolic_mmhg=106)
    assert {a.kind for a in alarms_for(after, rested, ALARMS)} == {"systolic-rise", "diastolic-rise"}
    assert may_alarm([at(-10, systolic_mmhg=175), after], rested, ALARMS)


def test_alarm_messages_name_the_value_and_limit() -> None:
    [high, rise] = alarms_for(at(30, systolic_mmhg=190), BASELINE, ALARMS)
    assert high.message == "Systolic BP 190 is above 180"
    assert "BEAUDOIN-2014" in high.source
    assert rise.message == "Systolic BP 190 is 66 above the baseline 124 (limit: a rise of 40)"
    assert rise.source.startswith("SPRAVATO-PI")


def test_clinic_override_of_a_limit() -> None:
    found = alarms_for(at(30, spo2_pct=95), BASELINE, clinic(alarm_spo2_low_pct=96))
    assert [a.kind for a in found] == ["spo2-low"]
    assert found[0].source.startswith("clinic override of clinic default: BEAUDOIN-2014")
    assert found[0].message == "SpO2 95 is below 96"


def test_repeated_readings_do_not_stack_alarms() -> None:
    first = alarms_for(at(30, systolic_mmhg=190), BASELINE, ALARMS)
    assert {a.kind for a in new_alarms(first, set())} == {"systolic-high", "systolic-rise"}
    again = alarms_for(at(40, systolic_mmhg=195, spo2_pct=92), BASELINE, ALARMS)
    assert [a.kind for a in new_alarms(again, {"systolic-high", "systolic-rise"})] == ["spo2-low"]


# Values on and about every limit, and about each rise over BASELINE, missing, or not a number.
_ABSOLUTE_LIMITS = ("systolic_high_mmhg", "systolic_low_mmhg", "diastolic_high_mmhg",
                    "spo2_low_pct", "respiratory_rate_low_per_min",
                    "respiratory_rate_high_per_min", "heart_rate_low_bpm", "heart_rate_high_bpm")
_EDGES = sorted({edge + step for edge in (
    *(limit(name) for name in _ABSOLUTE_LIMITS),
    BASELINE.systolic_mmhg + limit("systolic_rise_mmhg"),
    BASELINE.diastolic_mmhg + limit("diastolic_rise_mmhg")) for step in (-0.5, -0.1, 0, 0.1, 0.5)})
_NEAR_LIMITS = st.one_of(st.none(), st.just(float("nan")), st.sampled_from(_EDGES),
                         st.floats(0, 300))
_READINGS = st.lists(st.builds(
    lambda minute, values: at(minute, **values), st.integers(-30, 120),
    st.fixed_dictionaries({}, optional={field: _NEAR_LIMITS for field in (
        "systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "respiratory_rate_per_min",
        "spo2_pct", "temperature_c")})), max_size=8)


@given(_READINGS, st.one_of(st.none(), st.just(BASELINE), _READINGS.filter(bool).map(
    lambda readings: readings[0])), st.sampled_from([ALARMS, clinic(alarm_systolic_high_mmhg=150.0)]))
def test_a_batch_is_cleared_at_once_exactly_when_no_reading_alarms(readings, baseline,
                                                                   overrides) -> None:
    # `may_alarm` says no exactly when `alarms_for` finds nothing in every reading, however
    # the values fall about the limits, missing or NaN among them.
    alarming = any(alarms_for(r, baseline, overrides) for r in readings)
    assert may_alarm(readings, baseline, overrides) == alarming


def test_a_batch_of_ordinary_readings_is_cleared_and_one_alarming_reading_is_not() -> None:
    for field in ("systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm",
                  "respiratory_rate_per_min", "spo2_pct", "temperature_c"):
        for value in _EDGES:  # each value on and about each limit, alone in a batch
            for baseline in (None, BASELINE):
                reading = at(10, **{field: value})
                assert may_alarm([reading], baseline, ALARMS) == bool(alarms_for(reading, baseline, ALARMS))
    ordinary = [at(m, systolic_mmhg=126, diastolic_mmhg=80, heart_rate_bpm=74, spo2_pct=98,
                   respiratory_rate_per_min=14) for m in range(0, 40, 5)]
    assert not may_alarm(ordinary, BASELINE, ALARMS)
    for values in ({"spo2_pct": 93}, {"systolic_mmhg": 164}, {"heart_rate_bpm": float("inf")}):
        assert may_alarm([*ordinary, at(41, **values)], BASELINE, ALARMS)
    assert not may_alarm([*ordinary, at(41, systolic_mmhg=164)], None, ALARMS)  # a rise needs a baseline
    assert not may_alarm([*ordinary, at(41, spo2_pct=float("nan"))], BASELINE, ALARMS)
    # a NaN ahead of a low value hides nothing (max and min of a list with a NaN are not)
    assert may_alarm([at(40, spo2_pct=float("nan")), at(41, spo2_pct=90)], None, ALARMS)
    assert may_alarm([at(40, heart_rate_bpm=float("nan")), at(41, heart_rate_bpm=130)], None, ALARMS)


@given(st.floats(90, 180), st.floats(30, 110), st.floats(94, 100), st.floats(10, 22))
def test_readings_inside_every_limit_without_a_baseline_never_alarm(s, d, o, r) -> None:
    assert alarms_for(at(10, systolic_mmhg=s, diastolic_mmhg=d, spo2_pct=o,
                         respiratory_rate_per_min=r), None, ALARMS) == []


def test_pre_dose_check() -> None:
    assert pre_dose_problem(BASELINE, SHIPPED) is None
    assert "No baseline" in pre_dose_problem(None, SHIPPED)
    high = pre_dose_problem(at(-5, systolic_mmhg=150, diastolic_mmhg=85), SHIPPED)
    assert high and "150/85 is above 140/90" in high and "SPRAVATO-PI" in high
    urgent = pre_dose_problem(at(-5, systolic_mmhg=186, diastolic_mmhg=114), SHIPPED)
    assert urgent and "186/114 is at or above 180/110, the hypertensive-urgency range" in urgent
    assert "do not dose" in urgent and "clinic default" in urgent
    assert pre_dose_problem(at(-5, systolic_mmhg=130, diastolic_mmhg=110), SHIPPED)


def test_the_pre_dose_check_reads_the_clinic_s_rule_set_and_names_its_override() -> None:
    """The pressures that hold a dose back are the rule set's, so that a clinic's override of
    the screening caution or hazard holds at the chair too (they were a table of their own)."""
    clinic = pressure_limits(default_ruleset().with_overrides({
        "caution_systolic_mmhg": 150, "caution_diastolic_mmhg": 95, "hazard_diastolic_mmhg": 105}))
    assert (clinic.caution_systolic, clinic.caution_diastolic) == (150, 95)
    assert (clinic.hazard_systolic, clinic.hazard_diastolic) == (180, 105)
    assert pre_dose_problem(at(-5, systolic_mmhg=146, diastolic_mmhg=92), clinic) is None
    urgent = pre_dose_problem(at(-5, systolic_mmhg=150, diastolic_mmhg=106), clinic)
    assert urgent and "at or above 180/105" in urgent and "clinic override of KETALAR-PI" in urgent
    above = pre_dose_problem(at(-5, systolic_mmhg=152, diastolic_mmhg=90), clinic)
    assert above and "above 150/95" in above and above.count("clinic override") == 2
    assert "SPRAVATO-PI" in SHIPPED.caution_source and "clinic override" not in SHIPPED.caution_source


def test_discharge_needs_both_pressures_and_the_heart_rate_settled() -> None:
    end = T0 + timedelta(minutes=40)
    later = end + timedelta(minutes=70)

    def missing(*readings: Reading) -> dict[str, str]:
        return {m.criterion: m.message for m in discharge_missing(
            route="iv", dose_end=end, now=later, baseline=BASELINE, readings=list(readings),
            moass=5, escort_present=True, driving_warning_given=True, rules=RULES)}

    diastolic = missing(at(50, systolic_mmhg=130, diastolic_mmhg=94),
                        at(100, systolic_mmhg=128, diastolic_mmhg=96))
    assert diastolic == {"bp-falling-or-normal": "Diastolic 96 is neither normal (at most 90) nor "
                                                 "falling."}
    assert missing(at(50, systolic_mmhg=130, diastolic_mmhg=98),
                   at(100, systolic_mmhg=128, diastolic_mmhg=94)) == {}
    fast = missing(at(100, systolic_mmhg=128, diastolic_mmhg=80, heart_rate_bpm=104))
    assert fast == {"heart-rate-settled": "Heart rate 104 is not below 100 or within 20 % of the "
                                          "baseline 72."}
    near_baseline = dataclasses.replace(BASELINE, heart_rate_bpm=92)
    assert discharge_missing(route="iv", dose_end=end, now=later, baseline=near_baseline,
                             readings=[at(100, systolic_mmhg=128, diastolic_mmhg=80,
                                          heart_rate_bpm=104)], moass=5, escort_present=True,
                             driving_warning_given=True, rules=RULES) == []


def test_iv_schedule_every_10_minutes_during_then_15_after() -> None:
    during = next_reading_due(route="iv", dose_start=T0, dose_end=None,
                              last_pressure=T0 + timedelta(minutes=10), now=T0 + timedelta(minutes=12))
    assert (during.at, during.overdue, during.every_min) == (T0 + timedelta(minutes=20), False, 10)
    late = next_reading_due(route="iv", dose_start=T0, dose_end=None,
                            last_pressure=T0 + timedelta(minutes=10), now=T0 + timedelta(minutes=21))
    assert late.overdue
    after = next_reading_due(route="iv", dose_start=T0, dose_end=T0 + timedelta(minutes=40),
                             last_pressure=T0 + timedelta(minutes=40), now=T0 + timedelta(minutes=41))
    assert (after.at, after.every_min) == (T0 + timedelta(minutes=55), 15)
    assert "EMORY-684" in after.source


def test_esketamine_schedule_before_dosing_at_40_then_every_30() -> None:
    first = next_reading_due(route="esketamine", dose_start=T0, dose_end=T0 + timedelta(minutes=10),
                             last_pressure=None, now=T0 - timedelta(minutes=1))
    assert (first.at, first.overdue) == (T0, False)
    forty = next_reading_due(route="esketamine", dose_start=T0, dose_end=T0 + timedelta(minutes=10),
                             last_pressure=T0 - timedelta(minutes=2), now=T0 + timedelta(minutes=30))
    assert forty.at == T0 + timedelta(minutes=40)
    later = next_reading_due(route="esketamine", dose_start=T0, dose_end=T0 + timedelta(minutes=10),
                             last_pressure=T0 + timedelta(minutes=41), now=T0 + timedelta(minutes=50))
    assert later.at == T0 + timedelta(minutes=71)


def test_observation_minimum_per_route() -> None:
    end = T0 + timedelta(minutes=40)
    assert observation_ends(end, observed("iv")) == end + timedelta(minutes=60)
    assert observation_ends(end, observed("esketamine")) == end + timedelta(minutes=120)
    assert observation_ends(end, observed("oral")) == end + timedelta(minutes=120)  # peaks ~1 h after
    with pytest.raises(ValueError, match="unknown route"):
        observed("rectal")
    clinic_value = observation_of(default_ruleset().with_overrides({"observation_iv_min": 45}), "iv")
    assert observation_ends(end, clinic_value) == end + timedelta(minutes=45)
    assert clinic_value.source.startswith("clinic override of clinic default: 60 min")


def test_discharge_lists_what_is_missing_until_everything_is_met() -> None:
    end = T0 + timedelta(minutes=40)
    early = discharge_missing(route="iv", dose_end=end, now=end + timedelta(minutes=20),
                              baseline=BASELINE, readings=[at(45, systolic_mmhg=185, diastolic_mmhg=95)],
                              moass=4, escort_present=False, driving_warning_given=False,
                              rules=RULES)
    assert [m.criterion for m in early] == ["observation-time", "vitals-within-limits",
                                            "bp-falling-or-normal", "moass-alert", "escort",
                                            "driving-warning"]
    assert early[0].message == "41 min of the 60 min observation remain."
    ready = discharge_missing(route="iv", dose_end=end, now=end + timedelta(minutes=61),
                              baseline=BASELINE,
                              readings=[at(45, systolic_mmhg=150, diastolic_mmhg=88),
                                        at(95, systolic_mmhg=138, diastolic_mmhg=84)],
                              moass=5, escort_present=True, driving_warning_given=True,
                              rules=RULES)
    assert ready == []


def test_high_but_falling_bp_allows_discharge() -> None:
    end = T0 + timedelta(minutes=10)
    result = discharge_missing(route="esketamine", dose_end=end, now=end + timedelta(minutes=125),
                               baseline=BASELINE,
                               readings=[at(60, systolic_mmhg=158, diastolic_mmhg=88),
                                         at(130, systolic_mmhg=146, diastolic_mmhg=86)],
                               moass=5, escort_present=True, driving_warning_given=True,
                               rules=RULES)
    assert result == []


def test_no_discharge_before_dosing_ends_or_without_vitals() -> None:
    assert [m.criterion for m in discharge_missing(
        route="iv", dose_end=None, now=T0, baseline=BASELINE, readings=[], moass=5,
        escort_present=True, driving_warning_given=True, rules=RULES)] == ["dosing-ended"]
    no_vitals = discharge_missing(route="iv", dose_end=T0, now=T0 + timedelta(minutes=90),
                                  baseline=BASELINE, readings=[BASELINE], moass=5,
                                  escort_present=True, driving_warning_given=True,
                                  rules=RULES)
    assert [m.criterion for m in no_vitals] == ["vitals-after-dosing"]


values = st.floats(min_value=40, max_value=200) | st.none()


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=120), values, values, values),
                max_size=12), st.integers(min_value=0, max_value=120))
def test_discharge_reads_only_each_sign_s_newest_two_readings(taken, dose_end_minute) -> None:
    # the chair-side page asks with those alone (a monitor's session has thousands of readings)
    readings = [at(minute, systolic_mmhg=s, diastolic_mmhg=d, heart_rate_bpm=h)
                for minute, s, d, h in sorted(taken, key=lambda t: t[0])]
    end = T0 + timedelta(minutes=dose_end_minute)

    def missing(given: list[Reading]) -> list[str]:
        return [m.message for m in discharge_missing(
            route="iv", dose_end=end, now=end + timedelta(minutes=30), baseline=BASELINE,
            readings=given, moass=5, escort_present=True, driving_warning_given=True,
            rules=RULES)]

    kept = set()
    for field in WATCHED_SIGNS:
        holding = [i for i, r in enumerate(readings) if r.taken >= end and getattr(r, field) is not None]
        kept.update(holding[-2:])
    assert missing([readings[i] for i in sorted(kept)]) == missing(readings)


def test_discharge_reads_each_sign_s_newest_value_not_the_newest_reading_alone() -> None:
    end = T0 + timedelta(minutes=40)

    def missing(*readings: Reading) -> dict[str, str]:
        return {m.criterion: m.message for m in discharge_missing(
            route="esketamine", dose_end=end, now=end + timedelta(minutes=130), baseline=BASELINE,
            readings=list(readings), moass=5, escort_present=True, driving_warning_given=True,
            rules=RULES)}

    # The monitor's last blood pressure was high and rising; oximetry came every second since.
    oximetry = [at(120 + s / 60, spo2_pct=97, heart_rate_bpm=84) for s in range(0, 300, 1)]
    high = missing(at(100, systolic_mmhg=150, diastolic_mmhg=92),
                   at(118, systolic_mmhg=186, diastolic_mmhg=112), *oximetry)
    assert set(high) == {"vitals-within-limits", "bp-falling-or-normal"}
    assert "Systolic BP 186 is above 180" in high["vitals-within-limits"]
    assert high["bp-falling-or-normal"] == ("Systolic 186 is neither normal (at most 140) nor "
                                            "falling. Diastolic 112 is neither normal (at most 90) "
                                            "nor falling.")
    # Falling is read against that sign's value before, not the reading before.
    assert missing(at(100, systolic_mmhg=150, diastolic_mmhg=96),
                   at(118, systolic_mmhg=146, diastolic_mmhg=92), *oximetry) == {}
    # Oximetry alone after dosing says nothing of the blood pressure.
    assert missing(*oximetry) == {"bp-after-dosing": "Record a blood pressure taken after dosing: "
                                                     "none of the readings since holds one."}
    # A low saturation is read from the newest oximetry, wherever the newest pressure is.
    low = missing(at(100, spo2_pct=91), at(118, systolic_mmhg=128, diastolic_mmhg=80))
    assert set(low) == {"vitals-within-limits"} and "SpO2 91" in low["vitals-within-limits"]


def test_a_reason_to_dose_covers_the_pressure_judged_and_any_no_higher() -> None:
    judged = {"reason": "usual pressure", "by": "prescriber", "judged_mmhg": [146, 92]}
    assert override_covers(judged, at(-5, systolic_mmhg=146, diastolic_mmhg=92))
    assert override_covers(judged, at(-3, systolic_mmhg=138, diastolic_mmhg=92))
    assert not override_covers(judged, at(-3, systolic_mmhg=147, diastolic_mmhg=80))
    assert not override_covers(judged, at(-3, systolic_mmhg=130, diastolic_mmhg=95))
    assert not override_covers(judged, None)
    unmeasured = {**judged, "judged_mmhg": None}
    assert override_covers(unmeasured, None)
    assert not override_covers(unmeasured, at(-3, systolic_mmhg=150, diastolic_mmhg=95))
    assert not override_covers(None, at(-3, systolic_mmhg=150, diastolic_mmhg=95))
    # recorded before the judged pressure was kept with a reason: it covers as it did
    assert override_covers({"reason": "r", "by": "p"}, at(-3, systolic_mmhg=190, diastolic_mmhg=95))


def test_discharge_s_heart_rate_rule_cites_an_override_of_either_of_its_numbers() -> None:
    """An override of the percentage alone was cited as the shipped default's source."""
    rule = heart_rate_rule(default_ruleset().with_overrides(
        {"discharge_heart_rate_within_baseline_pct": 30}))
    assert (rule.max_bpm, rule.within_pct) == (100, 30)
    assert rule.source.startswith("clinic override of")
    assert not heart_rate_rule(default_ruleset()).source.startswith("clinic override")
