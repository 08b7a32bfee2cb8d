"""The public self-check: plain answers turned into the facts the clinic's screening rules read,
so the public result and the clinic's decision always agree. Pure: nothing is stored."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

from ketaclinic.knowledge.record import (
    AllergyFact,
    BloodPressure,
    Coding,
    ConditionFact,
    MedicationFact,
    PatientRecord,
    Weight,
    pressure_text,
)
from ketaclinic.knowledge.ruleset import RuleSet, default_ruleset
from ketaclinic.knowledge.screening import Finding, decide, screen
from ketaclinic.knowledge.tables import load_table

MISSING_DATA_RULES = frozenset({"missing-blood-pressure", "missing-weight"})
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@cache
def table() -> dict[str, Any]:
    """The self-check table."""
    return load_table("self_check")


@dataclass(frozen=True)
class Choice:
    """One answer the visitor can pick: its key and what they read."""

    key: str
    label: str


CHOICE_GROUPS = ("condition", "concern", "tried")


@cache
def choices(group: str) -> tuple[Choice, ...]:
    """The answers of a group ('condition', 'concern' or 'tried') in table order."""
    if group not in CHOICE_GROUPS:
        raise KeyError(group)
    return tuple(Choice(str(row["key"]), str(row["label"])) for row in table()[group])


def label_of(group: str, key: str) -> str:
    """What the visitor read for an answer ('' for a key the table does not have)."""
    return next((c.label for c in choices(group) if c.key == key), "")


def disclaimer() -> str:
    """What the check cannot do, shown on every public page."""
    return str(table()["disclaimer"])


@cache
def medications() -> dict[str, tuple[str, str]]:
    """The searchable medicines: key -> (display, RxNorm code), from codes.toml."""
    return {row["key"]: (row["display"], row["rxnorm"])
            for row in load_table("codes")["medication"]
            if row["key"] not in ("ketamine", "esketamine")}


@dataclass(frozen=True)
class Answers:
    """What a visitor told the self-check."""

    age: int
    route: str = "iv"
    conditions: frozenset[str] = frozenset()
    ketamine_allergy: bool = False
    medicines: tuple[tuple[str, float | None], ...] = ()  # (medicine key, mg a day if known)
    other_medicines: tuple[tuple[str, float | None], ...] = ()  # (name as typed, mg a day)
    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    weight_kg: float | None = None
    suicidal_thoughts: bool = False


@dataclass
class SelfCheckResult:
    """The outcome in plain words, why, and what the visitor should do next."""

    outcome: str  # eligible, needs-review, not-eligible (the clinic's decision words)
    title: str
    text: str
    reasons: list[tuple[str, str]] = field(default_factory=list)  # (plain reason, source)
    notes: list[str] = field(default_factory=list)
    crisis: bool = False
    urgent: str = ""  # said first: a finding that needs care today, not a clinic visit


def record_of(answers: Answers, on: date) -> PatientRecord:
    """The answers as the record screening reads."""
    moment = datetime.combine(on, time(12), tzinfo=UTC)
    rows = {row["key"]: row for row in table()["condition"]}
    unknown = sorted(answers.conditions - set(rows))
    if unknown:
        raise ValueError(f"conditions: unknown {', '.join(unknown)}")
    conditions = tuple(ConditionFact(f"answer:{key}", (Coding(rows[key]["system"], rows[key]["code"],
                                                              rows[key]["label"]),),
                                     text=rows[key]["label"],
                                     clinical_status=rows[key].get("status", "active"))
                       for key in sorted(answers.conditions))
    known = medications()
    meds = []
    for key, daily in answers.medicines:
        if key not in known:
            raise ValueError(f"medicines: unknown {key!r}")
        display, code = known[key]
        meds.append(MedicationFact(f"answer:{key}", (Coding(RXNORM, code, display),), display,
                                   status="active", daily_dose_mg=daily))
    for index, (name, daily) in enumerate(answers.other_medicines):
        meds.append(MedicationFact(f"answer:other-{index}", (), name, status="active",
                                   daily_dose_mg=daily))
    allergy = table()["ketamine_allergy"]
    allergies = (AllergyFact("answer:ketamine-allergy", (Coding(allergy["system"], allergy["code"],
                                                                "ketamine"),), "ketamine",
                             clinical_status="active"),) if answers.ketamine_allergy else ()
    pressures = ((BloodPressure("answer:bp", moment, answers.systolic_mmhg,
                                answers.diastolic_mmhg),)
                 if answers.systolic_mmhg is not None or answers.diastolic_mmhg is not None
                 else ())
    weights = (Weight("answer:weight", moment, answers.weight_kg),) if answers.weight_kg else ()
    birth = on.replace(year=on.year - answers.age) - timedelta(days=1) \
        if not (on.month == 2 and on.day == 29) else date(on.year - answers.age, 2, 28)
    return PatientRecord(ref="self-check", birth_date=birth, conditions=conditions,
                         medications=tuple(meds), allergies=allergies,
                         blood_pressures=pressures, weights=weights)


def check(answers: Answers, on: date, ruleset: RuleSet | None = None) -> SelfCheckResult:
    """Run the clinic's screening rules (the shipped rule set unless given the clinic's, with its
    overrides) on the answers and say what they mean, plainly."""
    ruleset = ruleset or default_ruleset()
    screened = screen(record_of(answers, on), route=answers.route, on=on, ruleset=ruleset)
    counted = tuple(f for f in screened.findings if f.rule not in MISSING_DATA_RULES)
    outcome = decide(counted)
    words = table()["outcomes"][outcome]
    result = SelfCheckResult(outcome, words["title"], words["text"])
    plain = table()["plain"]
    # Every reason, the blocking ones first: one never hides another.
    shown = [f for f in counted if f.severity in ("contraindication", "caution")]
    result.reasons = [(plain.get(f.rule, f.message), f.source) for f in _unique(shown)]
    result.notes = [plain.get(f.rule, f.message) for f in _unique(
        [f for f in counted if f.severity == "info"])]
    if any(f.rule == "missing-blood-pressure" for f in screened.findings):
        result.notes.append("You did not give a blood pressure: the clinic will measure it.")
    matched = {e.split(" ")[0] for f in screened.findings for e in f.evidence}
    result.notes += [table()["unlisted_medicine"].format(name=name)
                     for index, (name, _) in enumerate(answers.other_medicines)
                     if f"answer:other-{index}" not in matched]
    result.urgent = _urgent_bp(answers, ruleset)
    result.crisis = answers.suicidal_thoughts or "psychosis-now" in answers.conditions
    return result


def _urgent_bp(answers: Answers, ruleset: RuleSet) -> str:
    """Advice to get care today for a blood pressure in the hypertensive-urgency range."""
    systolic, diastolic = answers.systolic_mmhg, answers.diastolic_mmhg
    if (systolic or 0) >= ruleset.value("hazard_systolic_mmhg") or \
            (diastolic or 0) >= ruleset.value("hazard_diastolic_mmhg"):
        return table()["urgent_bp"]["text"].format(pressure=pressure_text(systolic, diastolic))
    return ""


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[str] = set()
    out = []
    for finding in findings:
        if finding.rule not in seen:
            seen.add(finding.rule)
            out.append(finding)
    return out
