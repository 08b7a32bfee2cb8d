"""The comparison of options and of ketamine routes, and the preparation guidance, all sourced."""

from functools import cache
from typing import Any

from ketaclinic.knowledge.monitoring import observation_of
from ketaclinic.knowledge.ruleset import RuleSet
from ketaclinic.knowledge.tables import load_table

ATTRIBUTES = ("onset", "given", "effects", "evidence", "cost")
ROUTE_PK = {"iv": "iv", "esketamine": "esketamine", "im": "im", "oral": "oral"}


@cache
def table() -> dict[str, Any]:
    """The decision-aid table."""
    return load_table("decision_aid")


def options() -> list[dict[str, Any]]:
    """Every option with its cells, each {text, source}."""
    return list(table()["option"])


def routes(ruleset: RuleSet) -> list[dict[str, Any]]:
    """The ketamine routes side by side: bioavailability, observation (on the clinic's rule
    set) and first course."""
    pk = load_table("pk")
    courses = load_table("courses")
    rows = []
    for route, key in ROUTE_PK.items():
        observation = observation_of(ruleset, route)
        course = courses[route]["depression"]
        phases = "; ".join(p["label"] for p in course["phases"])
        rows.append({
            "route": route,
            "bioavailability": {"text": f"{pk[key]['bioavailability'] * 100:g} %",
                                "source": pk[key]["source"]},
            "observation": {"text": f"at least {observation.minutes:g} minutes",
                            "source": observation.source},
            "schedule": {"text": phases, "source": course["source"]},
        })
    return rows


def preparation(route: str, ruleset: RuleSet) -> list[dict[str, str]]:
    """What to do before, during and after a session of a route, the stay after the dose the
    clinic's minimum observation (its rule set)."""
    prepare = table()["prepare"]
    observation = observation_of(ruleset, route)
    return [{"text": item["text"].format(observation=_duration(observation.minutes)),
             "source": f"{item['source']}; the minimum observation: {observation.source}"}
            if "{observation}" in item["text"] else item
            for item in [*prepare.get(route, []), *prepare["all"]]]


def _duration(minutes: float) -> str:
    """Minutes as a visitor reads them: "an hour", "2 hours", "90 minutes"."""
    if minutes == 60:
        return "an hour"
    if minutes % 60 == 0:
        return f"{minutes / 60:g} hours"
    return f"{minutes:g} minutes"
