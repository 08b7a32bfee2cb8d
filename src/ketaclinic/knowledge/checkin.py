"""The check-in checks of checkin.toml: what is confirmed at the chair, and for which routes."""

from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge.tables import load_table


@dataclass(frozen=True)
class Check:
    """One row of checkin.toml."""

    id: str
    kind: str
    routes: frozenset[str]
    label: str
    source: str
    # no-new-caution: the caution rules not weighed again at check-in, and why
    settled_at_signing: frozenset[str] = frozenset()
    settled_at_signing_source: str = ""


@cache
def checks() -> tuple[Check, ...]:
    """Every check-in check in table order."""
    return tuple(Check(r["id"], r["kind"], frozenset(r["routes"]), r["label"], r["source"],
                       frozenset(r.get("settled_at_signing", ())),
                       r.get("settled_at_signing_source", ""))
                 for r in load_table("checkin")["check"])


def settled_at_signing() -> frozenset[str]:
    """The caution rules check-in does not weigh again (settled when the course was signed)."""
    return next((c.settled_at_signing for c in checks() if c.id == "no-new-caution"), frozenset())


def checks_for(route: str) -> list[Check]:
    """The checks that apply to a route."""
    return [c for c in checks() if route in c.routes]
