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
    # an automatic check's screening rules it leaves to others (the pre-dose check), and why
    leaves_out: frozenset[str] = frozenset()
    leaves_out_source: str = ""


@cache
def checks() -> tuple[Check, ...]:
    """Every check-in check in table order."""
    return tuple(Check(r["id"], r["kind"], frozenset(r["routes"]), r["label"], r["source"],
                       frozenset(r.get("leaves_out", ())), r.get("leaves_out_source", ""))
                 for r in load_table("checkin")["check"])


def left_out(check_id: str) -> frozenset[str]:
    """The screening rules an automatic check leaves to others (empty for any other check)."""
    return next((c.leaves_out for c in checks() if c.id == check_id), frozenset())


def checks_for(route: str) -> list[Check]:
    """The checks that apply to a route."""
    return [c for c in checks() if route in c.routes]
