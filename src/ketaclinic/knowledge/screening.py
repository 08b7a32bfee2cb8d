"""Screening a patient's record for one route on one day: findings with reasons and sources."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache, cached_property
from typing import Any
from zoneinfo import ZoneInfo

from ketaclinic.knowledge.medication_groups import diazepam_equivalent_mg, medication_groups
from ketaclinic.knowledge.record import (
    NEVER_COUNTS,
    BloodPressure,
    ConditionFact,
    MedicationFact,
    PatientRecord,
    Weight,
    pressure_text,
)
from ketaclinic.knowledge.ruleset import RuleSet, default_ruleset
from ketaclinic.knowledge.status_observations import current_yes, status_observations
from ketaclinic.knowledge.tables import load_table
from ketaclinic.knowledge.value_sets import ValueSet, value_sets

ROUTES = ("iv", "esketamine", "im", "oral")
WEIGHT_BASED_ROUTES = frozenset({"iv", "im", "oral"})
SEVERITIES = ("contraindication", "caution", "info")
ELIGIBLE, NEEDS_REVIEW, NOT_ELIGIBLE = "eligible", "needs-review", "not-eligible"


class CannotScreen(ValueError):
    """A record that must not be screened at all (e.g. a deceased patient)."""


@dataclass(frozen=True)
class Rule:
    """One row of screening_rules.toml."""

    id: str
    kind: str
    severity: str
    routes: frozenset[str]
    message: str
    source: str
    value_set: str | None = None
    group: str | None = None
    history: bool = False
    unless_active_in: str | None = None  # a condition active in this value set has its own rule


@dataclass(frozen=True)
class Finding:
    """One screening result: which rule, how serious, why, on what evidence, from where."""

    rule: str
    severity: str
    message: str
    evidence: tuple[str, ...]
    source: str

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        return {"rule": self.rule, "severity": self.severity, "message": self.message,
                "evidence": list(self.evidence), "source": self.source}


@dataclass(frozen=True)
class ScreeningResult:
    """The decision with every finding, the route, the day and the rule set used."""

    decision: str
    route: str
    on: date
    ruleset_version: str
    findings: tuple[Finding, ...]
    overrides: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The result in the documented JSON shape."""
        return {"decision": self.decision, "route": self.route, "on": self.on.isoformat(),
                "ruleset_version": self.ruleset_version, "overrides": dict(self.overrides),
                "findings": [f.as_dict() for f in self.findings]}


@cache
def rules() -> tuple[Rule, ...]:
    """Every screening rule, in table order."""
    return tuple(
        Rule(id=row["id"], kind=row["kind"], severity=row["severity"],
             routes=frozenset(row["routes"]), message=row["message"], source=row["source"],
             value_set=row.get("value_set"), group=row.get("group"),
             history=bool(row.get("history", False)),
             unless_active_in=row.get("unless_active_in"))
        for row in load_table("screening_rules")["rule"]
    )


def age_on(birth_date: date, day: date) -> int:
    """Whole years of age on a day."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def latest_within(readings: tuple[Any, ...], day: date, window_days: float,
                  time_zone: str = "UTC") -> Any | None:
    """The most recent reading taken on or before `day` (in that time zone) within the window."""
    zone = ZoneInfo(time_zone)
    earliest = day - timedelta(days=window_days)
    in_window = [r for r in readings if earliest <= r.taken.astimezone(zone).date() <= day]
    return max(in_window, key=lambda r: r.taken) if in_window else None


def decide(findings: tuple[Finding, ...]) -> str:
    """not-eligible with any contraindication, needs-review with any caution, else eligible."""
    severities = {f.severity for f in findings}
    if "contraindication" in severities:
        return NOT_ELIGIBLE
    if "caution" in severities:
        return NEEDS_REVIEW
    return ELIGIBLE


def screen(record: PatientRecord, *, route: str, on: date, ruleset: RuleSet | None = None,
           time_zone: str = "UTC") -> ScreeningResult:
    """Screen the record for the route as of the day `on` in `time_zone` (the clinic's).

    Raises CannotScreen for a deceased patient.
    """
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r} (accepted: {', '.join(ROUTES)})")
    if record.deceased:
        raise CannotScreen(f"{record.ref}: the patient is deceased; a deceased patient is not screened")
    ruleset = ruleset or default_ruleset()
    context = _Context(record, on, ruleset, time_zone)
    findings: list[Finding] = []
    for rule in rules():
        if route in rule.routes:
            findings.extend(_EVALUATORS[rule.kind](rule, context))
    order = {severity: index for index, severity in enumerate(SEVERITIES)}
    ordered = tuple(sorted(_merged(findings), key=lambda f: order[f.severity]))
    return ScreeningResult(decide(ordered), route, on, ruleset.version, ordered,
                           dict(ruleset.overrides))


def _merged(findings: list[Finding]) -> list[Finding]:
    """One finding per rule and message, with the evidence of every record that raised it."""
    merged: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        key = (finding.rule, finding.message)
        if key in merged:
            earlier = merged[key]
            evidence = earlier.evidence + tuple(e for e in finding.evidence
                                                if e not in earlier.evidence)
            merged[key] = Finding(earlier.rule, earlier.severity, earlier.message, evidence,
                                  earlier.source)
        else:
            merged[key] = finding
    return list(merged.values())


@dataclass(frozen=True)
class _Context:
    record: PatientRecord
    on: date
    ruleset: RuleSet
    time_zone: str = "UTC"

    def local_date(self, moment: datetime) -> date:
        """The date of a moment as the clinic reads it."""
        return moment.astimezone(ZoneInfo(self.time_zone)).date()

    @cached_property
    def bp(self) -> BloodPressure | None:
        return latest_within(self.record.blood_pressures, self.on,
                             self.ruleset.value("bp_window_days"), self.time_zone)

    @cached_property
    def weight(self) -> Weight | None:
        return latest_within(self.record.weights, self.on, self.ruleset.value("weight_window_days"),
                             self.time_zone)


def _finding(rule: Rule, evidence: list[str], source_extra: str = "", **values: Any) -> Finding:
    source = rule.source + (f"; {source_extra}" if source_extra else "")
    return Finding(rule.id, rule.severity, rule.message.format(**values), tuple(evidence), source)


def _counts(condition: ConditionFact, value_set: ValueSet, ctx: _Context, *,
            history: bool) -> str | None:
    """How the condition matches the value set if it counts on the day, else None (a text that
    says the condition is over counts only for a rule about history)."""
    if not condition.counts_on(ctx.on, history=history):
        return None
    match = value_set.match(condition.codings, condition.text)
    if match is None or (match.past and not history):
        return None
    return match.how


def _conditions(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    value_set = value_sets()[rule.value_set or ""]
    own_rule = value_sets()[rule.unless_active_in] if rule.unless_active_in else None
    for condition in ctx.record.conditions:
        how = _counts(condition, value_set, ctx, history=rule.history)
        if how is None or (own_rule and _counts(condition, own_rule, ctx, history=False)):
            continue
        display = condition.text or next((c.display for c in condition.codings if c.display),
                                         value_set.title)
        status = condition.clinical_status or "status not recorded"
        dates = f", onset {condition.onset}" if condition.onset else ""
        dates += f", abated {condition.abatement}" if condition.abatement else ""
        yield _finding(rule, [f"{condition.ref} ({display}; {status}{dates}; matched by {how})"],
                       display=display)
    yield from _observed(rule, value_set, ctx)


def _observed(rule: Rule, value_set: ValueSet, ctx: _Context) -> Iterator[Finding]:
    """A current "yes" Observation (pregnancy status, hCG, breastfeeding) for the value set."""
    windows = {kind.window_parameter: ctx.ruleset.value(kind.window_parameter)
               for kind in status_observations() if kind.value_set == value_set.key}
    if not windows:
        return
    found = current_yes(ctx.record.observations, value_set.key, ctx.on, windows, ctx.local_date)
    if found is not None and not _ended_since(value_set, ctx, ctx.local_date(found[0].taken)):
        observation, kind = found
        answer = observation.value_text or next(
            (c.display or c.code for c in observation.value_codes), "yes")
        yield _finding(rule, [f"{observation.ref} ({kind.title}: {answer} on "
                              f"{ctx.local_date(observation.taken)})"],
                       ctx.ruleset.source(kind.window_parameter), display=kind.title)


def _ended_since(value_set: ValueSet, ctx: _Context, taken_on: date) -> bool:
    """Whether the record says the state an observation saw has ended since it was taken: a
    condition of the value set (a pregnancy, lactation) that abated on or after that day and by
    the day screened, as a delivery ends a pregnancy a prenatal visit's status saw."""
    return any(condition.abatement is not None and taken_on <= condition.abatement <= ctx.on
               and condition.verification_status not in NEVER_COUNTS
               and value_set.match(condition.codings, condition.text) is not None
               for condition in ctx.record.conditions)


def _allergies(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    """Hypersensitivities: every allergy that counts but an intolerance not of high criticality."""
    yield from _allergies_of(rule, ctx, hypersensitivity=True)


def _intolerances(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    """Intolerances (not immune-mediated) whose criticality is not high."""
    yield from _allergies_of(rule, ctx, hypersensitivity=False)


def _allergies_of(rule: Rule, ctx: _Context, *, hypersensitivity: bool) -> Iterator[Finding]:
    value_set = value_sets()[rule.value_set or ""]
    for allergy in ctx.record.allergies:
        if allergy.is_hypersensitivity() != hypersensitivity:
            continue
        match = value_set.match(allergy.codings, allergy.text) if allergy.counts() else None
        if match is not None and not match.past:
            display = allergy.text or next((c.display for c in allergy.codings if c.display),
                                           value_set.title)
            yield _finding(rule, [f"{allergy.ref} ({display}; matched by {match.how})"],
                           display=display)


def _medications(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    group = medication_groups()[rule.group or ""]
    for medication in ctx.record.medications:
        if not medication.active_on(ctx.on):
            continue
        matched = group.member_of(medication)
        if matched is None:
            continue
        member, how = matched
        display = medication.text or next((c.display for c in medication.codings if c.display),
                                          member.name)
        yield _finding(rule, [f"{medication.ref} ({display}{_since(medication)}; {group.title}; "
                              f"matched by {how})"], display=display)


def _since(medication: MedicationFact) -> str:
    """When the medication was started or ordered, for the evidence: an order 'active' for years
    may be one the record was never reconciled against."""
    return f", since {medication.start}" if medication.start else ""


def _benzodiazepines(ctx: _Context) -> Iterator[tuple[Any, Any, str, float | None]]:
    group = medication_groups()["benzodiazepines"]
    for medication in ctx.record.medications:
        if medication.active_on(ctx.on) and (matched := group.member_of(medication)):
            member, how = matched
            yield medication, member, how, diazepam_equivalent_mg(medication, member)


def _benzodiazepine_load(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    threshold = ctx.ruleset.value("benzodiazepine_diazepam_eq_mg_per_day")
    parts = [(m, member, eq) for m, member, _, eq in _benzodiazepines(ctx) if eq is not None]
    total = round(sum(eq for _, _, eq in parts), 2)
    if total > threshold:
        evidence = [f"{m.ref} ({member.name}{_since(m)}; {m.daily_dose_mg:g} mg/day = {eq:g} mg "
                    f"diazepam)" for m, member, eq in parts]
        threshold_source = ctx.ruleset.source("benzodiazepine_diazepam_eq_mg_per_day")
        yield _finding(rule, evidence, f"threshold: {threshold_source}",
                       diazepam_eq=total, threshold=threshold)


def _benzodiazepine_dose_unknown(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    for medication, member, how, eq in _benzodiazepines(ctx):
        if eq is None:
            display = medication.text or member.name
            yield _finding(rule, [f"{medication.ref} ({display}{_since(medication)}; matched by "
                                  f"{how}; no daily dose)"], display=display)


def _age_below(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    minimum = ctx.ruleset.value("min_age_years")
    if ctx.record.birth_date is not None:
        age = age_on(ctx.record.birth_date, ctx.on)  # the oldest a partial date allows
        if age < minimum:
            yield _finding(rule, [f"{ctx.record.ref} (born {_born(ctx.record)})"],
                           ctx.ruleset.source("min_age_years"), age=age, min_age=f"{minimum:g}")


def _born(record: PatientRecord) -> str:
    """The birth date as the record gives it: a partial one as the days it may be."""
    if record.birth_date_latest is None:
        return str(record.birth_date)
    return f"between {record.birth_date} and {record.birth_date_latest}"


def _birth_date_partial(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    """A birth date without its day that leaves the patient possibly under the minimum age
    (and possibly not): the adult check cannot pass, as with no birth date."""
    minimum = ctx.ruleset.value("min_age_years")
    earliest, latest = ctx.record.birth_date, ctx.record.birth_date_latest
    if earliest is None or latest is None:
        return
    youngest = age_on(latest, ctx.on)
    if youngest < minimum <= age_on(earliest, ctx.on):
        yield _finding(rule, [f"{ctx.record.ref} (born {_born(ctx.record)})"],
                       ctx.ruleset.source("min_age_years"), youngest=youngest,
                       min_age=f"{minimum:g}")


def _birth_date_missing(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    if ctx.record.birth_date is None:
        yield _finding(rule, [f"{ctx.record.ref} (no birth date)"], ctx.ruleset.source("min_age_years"),
                       min_age=f"{ctx.ruleset.value('min_age_years'):g}")


def _age_at_least(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    older = ctx.ruleset.value("older_adult_age_years")
    if ctx.record.birth_date is not None:
        age = age_on(ctx.record.birth_date, ctx.on)
        if age >= older:
            yield _finding(rule, [f"{ctx.record.ref} (born {_born(ctx.record)})"],
                           age=age, older_age=f"{older:g}")


def _bp_values(ctx: _Context) -> dict[str, Any]:
    return {name: ctx.ruleset.value(f"{name}_mmhg") for name in
            ("hazard_systolic", "hazard_diastolic", "caution_systolic", "caution_diastolic")}


def _bp_evidence(ctx: _Context, bp: BloodPressure) -> list[str]:
    return [f"{bp.ref} ({pressure_text(bp.systolic_mmhg, bp.diastolic_mmhg)} mmHg on "
            f"{ctx.local_date(bp.taken)})"]


def _bp_hazard(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    bp, limits = ctx.bp, _bp_values(ctx)
    if bp is None:
        return
    if (bp.systolic_mmhg or 0) >= limits["hazard_systolic"] or (
            bp.diastolic_mmhg or 0) >= limits["hazard_diastolic"]:
        yield _finding(rule, _bp_evidence(ctx, bp),
                       pressure=pressure_text(bp.systolic_mmhg, bp.diastolic_mmhg),
                       date=ctx.local_date(bp.taken), **limits)


def _bp_elevated(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    bp, limits = ctx.bp, _bp_values(ctx)
    if bp is None:
        return
    if (bp.systolic_mmhg or 0) > limits["caution_systolic"] or (
            bp.diastolic_mmhg or 0) > limits["caution_diastolic"]:
        yield _finding(rule, _bp_evidence(ctx, bp),
                       pressure=pressure_text(bp.systolic_mmhg, bp.diastolic_mmhg),
                       date=ctx.local_date(bp.taken), **limits)


def _missing_bp(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    if ctx.bp is None:
        window = ctx.ruleset.value("bp_window_days")
        older = [r for r in ctx.record.blood_pressures if ctx.local_date(r.taken) <= ctx.on]
        evidence = ([f"latest reading is {max(older, key=lambda r: r.taken).ref} on "
                     f"{ctx.local_date(max(r.taken for r in older))}, outside the window"] if older
                    else ["no blood-pressure reading on record"])
        yield _finding(rule, evidence, ctx.ruleset.source("bp_window_days"),
                       window=f"{window:g}", date=ctx.on)


def _missing_weight(rule: Rule, ctx: _Context) -> Iterator[Finding]:
    if ctx.weight is None:
        window = ctx.ruleset.value("weight_window_days")
        yield _finding(rule, ["no body weight in the window"], ctx.ruleset.source("weight_window_days"),
                       window=f"{window:g}", date=ctx.on)


_EVALUATORS: dict[str, Callable[[Rule, _Context], Iterator[Finding]]] = {
    "condition": _conditions,
    "allergy": _allergies,
    "intolerance": _intolerances,
    "medication": _medications,
    "benzodiazepine_load": _benzodiazepine_load,
    "benzodiazepine_dose_unknown": _benzodiazepine_dose_unknown,
    "age_below": _age_below,
    "birth_date_missing": _birth_date_missing,
    "birth_date_partial": _birth_date_partial,
    "age_at_least": _age_at_least,
    "bp_hazard": _bp_hazard,
    "bp_elevated": _bp_elevated,
    "missing_bp": _missing_bp,
    "missing_weight": _missing_weight,
}
