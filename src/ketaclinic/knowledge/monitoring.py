"""Monitoring a treatment session: alarms, the vitals schedule, the pre-dose check, discharge."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from ketaclinic.knowledge.record import pressure_text
from ketaclinic.knowledge.ruleset import RuleSet
from ketaclinic.knowledge.tables import load_table


@dataclass(frozen=True)
class Reading:
    """One set of vital signs taken during a session (any value may be missing)."""

    taken: datetime
    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    heart_rate_bpm: float | None = None
    respiratory_rate_per_min: float | None = None
    spo2_pct: float | None = None
    temperature_c: float | None = None


@dataclass(frozen=True)
class Alarm:
    """A reading outside its limit: which condition, the value, why, and the source."""

    kind: str
    value: float
    message: str
    source: str


@dataclass(frozen=True)
class Due:
    """When the next reading is due and whether it is already late."""

    at: datetime
    overdue: bool
    every_min: float
    source: str


@dataclass(frozen=True)
class Missing:
    """A discharge criterion not yet met, in words a nurse acts on."""

    criterion: str
    message: str
    source: str


@cache
def _table() -> dict[str, Any]:
    return load_table("monitoring")


# (kind, field, rule-set parameter, direction, words)
_ABSOLUTE = (
    ("systolic-high", "systolic_mmhg", "alarm_systolic_high_mmhg", "above", "Systolic BP"),
    ("systolic-low", "systolic_mmhg", "alarm_systolic_low_mmhg", "below", "Systolic BP"),
    ("diastolic-high", "diastolic_mmhg", "alarm_diastolic_high_mmhg", "above", "Diastolic BP"),
    ("spo2-low", "spo2_pct", "alarm_spo2_low_pct", "below", "SpO2"),
    ("respiratory-rate-low", "respiratory_rate_per_min", "alarm_respiratory_rate_low_per_min",
     "below", "Respiratory rate"),
    ("respiratory-rate-high", "respiratory_rate_per_min", "alarm_respiratory_rate_high_per_min",
     "above", "Respiratory rate"),
    ("heart-rate-low", "heart_rate_bpm", "alarm_heart_rate_low_bpm", "below", "Heart rate"),
    ("heart-rate-high", "heart_rate_bpm", "alarm_heart_rate_high_bpm", "above", "Heart rate"),
)
_RISES = (
    ("systolic-rise", "systolic_mmhg", "alarm_systolic_rise_mmhg", "Systolic BP"),
    ("diastolic-rise", "diastolic_mmhg", "alarm_diastolic_rise_mmhg", "Diastolic BP"),
)


@dataclass(frozen=True)
class AlarmLimits:
    """Each alarm's threshold and source from the rule set, after the clinic's overrides (the
    limits are clinic defaults: protocol-facts §5), looked up once rather than per reading:
    (kind, field, threshold, source, direction, words) and (kind, field, rise, source, words)."""

    absolute: tuple[tuple[str, str, float, str, str, str], ...]
    rises: tuple[tuple[str, str, float, str, str], ...]


def alarm_limits(ruleset: RuleSet) -> AlarmLimits:
    """The alarm limits of a rule set (its values and sources, overrides included)."""
    return AlarmLimits(
        tuple((kind, field, ruleset.value(name), ruleset.source(name), direction, words)
              for kind, field, name, direction, words in _ABSOLUTE),
        tuple((kind, field, ruleset.value(name), ruleset.source(name), words)
              for kind, field, name, words in _RISES))


@cache
def alarms_for(reading: Reading, baseline: Reading | None, limits: AlarmLimits) -> list[Alarm]:
    """Every limit the reading breaks: absolute, and as a rise over the session baseline if the
    reading was taken after it (one taken before the baseline, or the baseline itself, rises over
    nothing: a high reading re-measured after rest is not a rise over its re-measurement); on
    `limits`, the clinic's (`alarm_limits` of its rule set)."""
    absolute, rises = limits.absolute, limits.rises
    found = []
    for kind, field, threshold, source, direction, words in absolute:
        value = getattr(reading, field)
        if value is None:
            continue
        if (direction == "above" and value > threshold) or (direction == "below" and value < threshold):
            found.append(Alarm(kind, value, f"{words} {value:g} is {direction} {threshold:g}", source))
    if baseline is None or reading.taken <= baseline.taken:
        return found
    for kind, field, rise, source, words in rises:
        value = getattr(reading, field)
        start = getattr(baseline, field)
        if value is not None and start is not None and value - start >= rise:
            found.append(Alarm(kind, value, f"{words} {value:g} is {value - start:g} above the "
                                            f"baseline {start:g} (limit: a rise of {rise:g})", source))
    return found


def may_alarm(readings: Sequence[Reading], baseline: Reading | None,
              limits: AlarmLimits) -> bool:
    """Whether `alarms_for` finds a limit broken in any of these readings (with `baseline` for
    the rises of those taken after it), decided a vital sign at a time over all of them (min and
    max run in C), so a batch of ordinary readings is cleared at once."""
    absolute, rises = limits.absolute, limits.rises
    # A NaN breaks no limit in `alarms_for` (every comparison with it is false): left out, it
    # cannot hide another value from min or max.
    columns = {field: [value for reading in readings
                       if (value := getattr(reading, field)) is not None and value == value]
               for field in WATCHED_SIGNS}
    for _kind, field, threshold, _source, direction, _words in absolute:
        values = columns[field]
        if values and (max(values) > threshold if direction == "above"
                       else min(values) < threshold):
            return True
    if baseline is None:
        return False
    later = [reading for reading in readings if reading.taken > baseline.taken]
    for _kind, field, rise, _source, _words in rises:
        start = getattr(baseline, field)
        values = [value for reading in later
                  if (value := getattr(reading, field)) is not None and value == value]
        if values and start is not None and max(values) - start >= rise:
            return True
    return False


# The signs with an alarm limit: what a batch is checked for, and what discharge reads (heart
# rate and blood pressure also have their settling rules there).
WATCHED_SIGNS = tuple(dict.fromkeys(field for _, field, *_ in (*_ABSOLUTE, *_RISES)))


def new_alarms(alarms: list[Alarm], open_kinds: set[str]) -> list[Alarm]:
    """The alarms to raise: a condition already alarming (not yet acknowledged) is not raised again."""
    return [a for a in alarms if a.kind not in open_kinds]


@dataclass(frozen=True)
class PressureLimits:
    """The clinic's blood-pressure limits as the chair applies them: above the caution a dose
    waits (and a pressure after dosing is not yet normal); at or above the hazard it is the
    hypertensive-urgency range. The same numbers screening uses, after the clinic's overrides."""

    caution_systolic: float
    caution_diastolic: float
    caution_source: str
    hazard_systolic: float
    hazard_diastolic: float
    hazard_source: str


def pressure_limits(ruleset: RuleSet) -> PressureLimits:
    """The rule set's caution and hazard pressures, with the pre-dose sources (monitoring.toml
    [pre_dose]) or, where the clinic overrides a value, the rule set's account of it."""
    row = _table()["pre_dose"]

    def source(shipped: str, *names: str) -> str:
        overridden = [name for name in names if name in ruleset.overrides]
        return "; ".join(ruleset.source(name) for name in overridden) if overridden else shipped

    return PressureLimits(
        ruleset.value("caution_systolic_mmhg"), ruleset.value("caution_diastolic_mmhg"),
        source(row["source"], "caution_systolic_mmhg", "caution_diastolic_mmhg"),
        ruleset.value("hazard_systolic_mmhg"), ruleset.value("hazard_diastolic_mmhg"),
        source(row["hazard_source"], "hazard_systolic_mmhg", "hazard_diastolic_mmhg"))


def pre_dose_problem(baseline: Reading | None, limits: PressureLimits) -> str | None:
    """Why dosing must wait for this baseline (None if it may go ahead)."""
    if baseline is None or baseline.systolic_mmhg is None or baseline.diastolic_mmhg is None:
        return "No baseline blood pressure: measure it before dosing."
    pressure = pressure_text(baseline.systolic_mmhg, baseline.diastolic_mmhg)
    if (baseline.systolic_mmhg >= limits.hazard_systolic
            or baseline.diastolic_mmhg >= limits.hazard_diastolic):
        return (f"Baseline BP {pressure} is at or above {limits.hazard_systolic:g}/"
                f"{limits.hazard_diastolic:g}, the hypertensive-urgency range: do not dose; "
                f"re-measure after rest, or a prescriber records a reason to go ahead "
                f"({limits.hazard_source}).")
    if (baseline.systolic_mmhg > limits.caution_systolic
            or baseline.diastolic_mmhg > limits.caution_diastolic):
        return (f"Baseline BP {pressure} is above {limits.caution_systolic:g}/"
                f"{limits.caution_diastolic:g}: re-measure, or a prescriber records a reason to "
                f"go ahead ({limits.caution_source}).")
    return None


def judged_pressure(baseline: Reading | None) -> list[float] | None:
    """The baseline pressure a prescriber judges when recording a reason to dose despite it
    ([systolic, diastolic]; None without one), kept with the reason."""
    if baseline is None or baseline.systolic_mmhg is None or baseline.diastolic_mmhg is None:
        return None
    return [baseline.systolic_mmhg, baseline.diastolic_mmhg]


def override_covers(override: Mapping[str, Any] | None, baseline: Reading | None) -> bool:
    """Whether a prescriber's recorded reason to dose despite the baseline covers this one: a
    pressure no higher, systolic and diastolic, than the one they judged (a reason recorded
    with no pressure measured covers only the lack of one). A reason recorded before the judged
    pressure was kept with it covers the session, as it did when it was given."""
    if not override:
        return False
    if "judged_mmhg" not in override:
        return True
    judged, now = override["judged_mmhg"], judged_pressure(baseline)
    if judged is None or now is None:
        return judged is None and now is None
    return now[0] <= judged[0] and now[1] <= judged[1]


def route_rules(route: str) -> dict[str, Any]:
    """The monitoring row for a route (its vitals schedule)."""
    routes = _table()["routes"]
    if route not in routes:
        raise ValueError(f"unknown route {route!r} (accepted: {', '.join(routes)})")
    row: dict[str, Any] = routes[route]
    return row


def next_reading_due(*, route: str, dose_start: datetime, dose_end: datetime | None,
                     last_pressure: datetime | None, now: datetime) -> Due:
    """When the next blood pressure is due, from the route's schedule (a schedule of blood
    pressures, protocol-facts.md §5) and when the last one was taken: oximetry a monitor sends
    every second meets none of it."""
    rules = route_rules(route)
    source = rules["schedule_source"]
    dosing = dose_end is None or now < dose_end
    if "checkpoints_min" in rules:
        tolerance = timedelta(minutes=float(rules["checkpoint_tolerance_min"]))
        for minute in rules["checkpoints_min"]:
            checkpoint = dose_start + timedelta(minutes=minute)
            if last_pressure is None or last_pressure < checkpoint - tolerance:
                return Due(checkpoint, now > checkpoint, float(minute), source)
        every = float(rules["after_dosing_every_min"])
    elif dosing and "during_dosing_every_min" in rules:
        every = float(rules["during_dosing_every_min"])
    else:
        every = float(rules["after_dosing_every_min"])
    anchor = last_pressure or dose_start
    due = anchor + timedelta(minutes=every)
    return Due(due, now > due, every, source)


class Observation(NamedTuple):
    """A route's minimum observation after dosing ends, and where the number comes from."""

    minutes: float
    source: str


def observation_of(ruleset: RuleSet, route: str) -> Observation:
    """The minimum observation for a route on a rule set (its `observation_<route>_min`, a
    clinic's override included)."""
    route_rules(route)  # an unknown route is refused with the accepted ones
    name = f"observation_{route}_min"
    return Observation(ruleset.value(name), ruleset.source(name))


def observation_ends(dose_end: datetime, observation: Observation) -> datetime:
    """The earliest discharge time: the route's minimum observation after dosing ends."""
    return dose_end + timedelta(minutes=observation.minutes)


def newest_holding_each(readings: Sequence[Reading]) -> dict[str, Reading]:
    """For each watched sign, the newest of these readings (in time order) that holds it: what
    the chair-side page shows as each sign's latest value, with its own time."""
    newest: dict[str, Reading] = {}
    for reading in reversed(readings):
        for field in WATCHED_SIGNS:
            if field not in newest and getattr(reading, field) is not None:
                newest[field] = reading
    return newest


def newest_signs_after(readings: Sequence[Reading], since: datetime
                       ) -> tuple[Reading | None, Reading | None]:
    """Each watched sign's newest value among the readings taken since then, as one reading
    (timed at the newest of them), and each sign's value before that: a monitor sends oximetry
    every second and a blood pressure every few minutes, so the newest reading alone may hold no
    blood pressure at all. None, None if no reading since holds any of the signs."""
    newest: dict[str, float] = {}
    before: dict[str, float] = {}
    taken: datetime | None = None
    # newest first; of two taken at once, the later given (as they are stored) counts as newer
    for reading in reversed(sorted(readings, key=lambda r: r.taken)):
        if reading.taken < since:
            break
        for field in WATCHED_SIGNS:
            value = getattr(reading, field)
            if value is None or field in before:
                continue
            if field in newest:
                before[field] = value
            else:
                newest[field] = value
                taken = taken or reading.taken
        if len(before) == len(WATCHED_SIGNS):
            break
    if taken is None:
        return None, None
    return Reading(taken, **newest), Reading(taken, **before) if before else None


def _pressure_not_settled(latest: Reading, previous: Reading | None,
                          limits: PressureLimits) -> list[Missing]:
    """Systolic and diastolic must each be normal (at most the caution limit) or falling."""
    unsettled = []
    for field, words, limit in (("systolic_mmhg", "Systolic", limits.caution_systolic),
                                ("diastolic_mmhg", "Diastolic", limits.caution_diastolic)):
        value = getattr(latest, field)
        before = getattr(previous, field) if previous is not None else None
        if value is None or value <= limit:
            continue
        if before is None or value >= before:
            unsettled.append(f"{words} {value:g} is neither normal (at most {limit:g}) "
                             "nor falling.")
    return [Missing("bp-falling-or-normal", " ".join(unsettled), "SPRAVATO-PI")] if unsettled \
        else []


class HeartRateRule(NamedTuple):
    """Discharge's heart rate: settled below `max_bpm`, or within `within_pct` % of the
    baseline's."""

    max_bpm: float
    within_pct: float
    source: str


def heart_rate_rule(ruleset: RuleSet) -> HeartRateRule:
    """Discharge's heart-rate rule on a rule set (a clinic's overrides included)."""
    highest, within = "discharge_heart_rate_max_bpm", "discharge_heart_rate_within_baseline_pct"
    return HeartRateRule(ruleset.value(highest), ruleset.value(within),
                         ruleset.source_of_any(highest, within))


def _heart_rate_not_settled(latest: Reading, baseline: Reading | None,
                            rule: HeartRateRule) -> list[Missing]:
    """Heart rate below the discharge limit, or within a share of the baseline."""
    rate = latest.heart_rate_bpm
    if rate is None or rate < rule.max_bpm:
        return []
    start = baseline.heart_rate_bpm if baseline is not None else None
    if start is not None and abs(rate - start) <= rule.within_pct / 100 * start:
        return []
    within = f" or within {rule.within_pct:g} % of the baseline {start:g}" \
        if start is not None else ""
    return [Missing("heart-rate-settled", f"Heart rate {rate:g} is not below "
                    f"{rule.max_bpm:g}{within}.", rule.source)]


class ChairRules(NamedTuple):
    """The clinic's rule set as the chair applies it: its pressure and alarm limits, looked up
    once, and each route's minimum observation and discharge's heart rate."""

    pressure: PressureLimits  # the pre-dose check and discharge, as screening and check-in judge
    alarms: AlarmLimits  # the chair's alarms, discharge and the REMS form
    ruleset: RuleSet  # the rule set they are read from

    def observation(self, route: str) -> Observation:
        """The route's minimum observation after dosing ends."""
        return observation_of(self.ruleset, route)

    def heart_rate(self) -> HeartRateRule:
        """Discharge's heart-rate rule."""
        return heart_rate_rule(self.ruleset)


def chair_rules(ruleset: RuleSet) -> ChairRules:
    """A rule set (a clinic's overrides included) as the chair applies it."""
    return ChairRules(pressure_limits(ruleset), alarm_limits(ruleset), ruleset)


def discharge_missing(*, route: str, dose_end: datetime | None, now: datetime,
                      baseline: Reading | None, readings: list[Reading], moass: int | None,
                      escort_present: bool, driving_warning_given: bool,
                      rules: ChairRules) -> list[Missing]:
    """Every discharge criterion not yet met (empty: the patient may go) on the clinic's rule
    set; `moass` is the newest MOAA/S since dosing ended."""
    source = _table()["discharge"]["source"]
    observation = rules.observation(route)  # an unknown route is refused with the accepted ones
    missing: list[Missing] = []
    if dose_end is None:
        return [Missing("dosing-ended", "Dosing has not ended yet.", source)]
    ends = observation_ends(dose_end, observation)
    if now < ends:
        left = int((ends - now).total_seconds() // 60) + 1
        missing.append(Missing("observation-time", f"{left} min of the {observation.minutes:g} "
                               f"min observation remain.", observation.source))
    latest, previous = newest_signs_after(readings, dose_end)
    if latest is None:
        missing.append(Missing("vitals-after-dosing", "Record vital signs taken after dosing.",
                               source))
    else:
        if latest.systolic_mmhg is None or latest.diastolic_mmhg is None:
            missing.append(Missing("bp-after-dosing", "Record a blood pressure taken after dosing: "
                                   "none of the readings since holds one.", "SPRAVATO-PI"))
        broken = alarms_for(latest, baseline, rules.alarms)
        if broken:
            missing.append(Missing("vitals-within-limits", "Vitals not back within limits: " +
                                   "; ".join(a.message for a in broken), broken[0].source))
        missing += _pressure_not_settled(latest, previous, rules.pressure)
        missing += _heart_rate_not_settled(latest, baseline, rules.heart_rate())
    alert = int(_table()["scales"]["moass"]["alert"])
    if moass != alert:
        shown = "none recorded since dosing ended" if moass is None \
            else f"the latest since dosing ended is {moass}"
        missing.append(Missing("moass-alert", f"MOAA/S must be {alert} (alert); {shown}.",
                               _table()["scales"]["moass"]["source"]))
    if not escort_present:
        missing.append(Missing("escort", "The escort who takes the patient home is not confirmed "
                               "present.", source))
    if not driving_warning_given:
        missing.append(Missing("driving-warning", "Give the warning: no driving or machinery until "
                               "the next day after restful sleep.", source))
    return missing
