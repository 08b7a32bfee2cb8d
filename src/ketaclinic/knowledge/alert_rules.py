"""Which alerts a scored questionnaire raises (measures.toml): pure, like the vital-sign alarms."""

from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge.instruments import Score
from ketaclinic.knowledge.tables import load_table

SEVERITY_ORDER = ("immediate", "same-day", "review")


@dataclass(frozen=True)
class AlertRule:
    """One row of the alert table: what fires it, how urgent it is, and why."""

    name: str
    instrument: str
    severity: str
    message: str
    source: str
    crisis: bool
    item: int | None = None
    at_least: int | None = None
    risk: str | None = None
    rise: int | None = None


@cache
def alert_rules() -> tuple[AlertRule, ...]:
    """Every alert rule, in table order."""
    return tuple(
        AlertRule(name=name, instrument=row["instrument"], severity=row["severity"],
                  message=row["message"], source=row["source"], crisis=bool(row.get("crisis")),
                  item=row.get("item"), at_least=row.get("at_least"), risk=row.get("risk"),
                  rise=row.get("rise"))
        for name, row in load_table("measures")["alerts"].items())


def rule(name: str) -> AlertRule | None:
    """One rule by name."""
    return next((r for r in alert_rules() if r.name == name), None)


def _item_hits(rules: list[AlertRule], scored: Score) -> list[AlertRule]:
    """For each item, the most demanding threshold its answer reaches (one alert per item)."""
    hits = []
    for item in sorted({r.item for r in rules if r.item is not None}):
        value = scored.answers[item - 1] if item <= len(scored.answers) else None
        reached = [r for r in rules if r.item == item and value is not None
                   and r.at_least is not None and value >= r.at_least]
        if reached:
            hits.append(max(reached, key=lambda r: r.at_least or 0))
    return hits


def alerts_for(scored: Score, previous_total: int | None) -> list[AlertRule]:
    """The alerts a scored form raises: item thresholds, risk levels, and a rise since the
    previous total of the same instrument."""
    rules = [r for r in alert_rules() if r.instrument == scored.instrument]
    fired = _item_hits(rules, scored)
    fired += [r for r in rules if r.risk is not None and scored.risk_level == r.risk]
    fired += [r for r in rules if r.rise is not None and previous_total is not None
              and scored.total is not None and scored.total - previous_total >= r.rise]
    return sorted(fired, key=lambda r: SEVERITY_ORDER.index(r.severity))


def is_crisis(name: str) -> bool:
    """Whether a rule is about suicidality (the patient sees the crisis contacts first)."""
    found = rule(name)
    return bool(found and found.crisis)
