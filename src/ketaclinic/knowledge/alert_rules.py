"""Which alerts a scored questionnaire raises (measures.toml): pure, like the vital-sign alarms."""

from dataclasses import dataclass, replace
from functools import cache

from ketaclinic.knowledge.instruments import Score
from ketaclinic.knowledge.ruleset import RuleSet, default_ruleset
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
    rise: float | None = None
    rise_from: str | None = None  # the rule-set parameter holding `rise`, a clinic default

    def on(self, ruleset: RuleSet) -> "AlertRule":
        """The rule with a clinic's rise (its size in the message, its override the source)."""
        if self.rise_from is None:
            return self
        rise = ruleset.value(self.rise_from)
        return replace(self, rise=rise, source=ruleset.source(self.rise_from),
                       message=_message_of(self.name).format(rise=f"{rise:g}"))


def _message_of(name: str) -> str:
    """A rule's message as the table writes it ({rise} where a clinic's size goes)."""
    return str(load_table("measures")["alerts"][name]["message"])


@cache
def alert_rules() -> tuple[AlertRule, ...]:
    """Every alert rule, in table order, with the shipped rule set's rises."""
    return tuple(
        AlertRule(name=name, instrument=row["instrument"], severity=row["severity"],
                  message=row["message"], source=row.get("source", ""),
                  crisis=bool(row.get("crisis")), item=row.get("item"),
                  at_least=row.get("at_least"), risk=row.get("risk"), rise=row.get("rise"),
                  rise_from=row.get("rise_from")).on(default_ruleset())
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


def alerts_for(scored: Score, previous_total: int | None, ruleset: RuleSet) -> list[AlertRule]:
    """The alerts a scored form raises: item thresholds, risk levels, and a rise since the
    previous total of the same instrument (the clinic's size where it is a clinic default)."""
    rules = [r.on(ruleset) for r in alert_rules() if r.instrument == scored.instrument]
    fired = _item_hits(rules, scored)
    fired += [r for r in rules if r.risk is not None and scored.risk_level == r.risk]
    fired += [r for r in rules if r.rise is not None and previous_total is not None
              and scored.total is not None and scored.total - previous_total >= r.rise]
    return sorted(fired, key=lambda r: SEVERITY_ORDER.index(r.severity))


def is_crisis(name: str) -> bool:
    """Whether a rule is about suicidality (the patient sees the crisis contacts first)."""
    found = rule(name)
    return bool(found and found.crisis)
