"""The versioned rule set: default parameters with sources, and a clinic's overrides."""

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

from ketaclinic.knowledge.tables import load_table
from ketaclinic.knowledge.vital_limits import plausible_ranges


class UnknownParameter(KeyError):
    """An override names a parameter the rule set does not have."""


class Refusal(NamedTuple):
    """Why a clinic's value is refused, and what the parameter would accept."""

    reason: str
    accepted: str


@dataclass(frozen=True)
class Parameter:
    """One number a rule uses, its default and where the default comes from, and the range a
    clinic's value must lie in (with why)."""

    name: str
    default: float
    source: str
    lowest: float
    highest: float
    accepted_source: str

    @property
    def accepted(self) -> str:
        """The accepted range in words."""
        return f"{self.lowest:g} to {self.highest:g} ({self.accepted_source})"

    def admits(self, value: float) -> bool:
        """Whether a clinic's value lies within the accepted range."""
        return self.lowest <= value <= self.highest


@dataclass(frozen=True)
class RuleSet:
    """The rule-set version, its parameters, and the overrides in force."""

    base_version: str
    parameters: dict[str, Parameter]
    overrides: dict[str, float] = field(default_factory=dict)
    # pairs of parameters whose values must stay in this order (lower, higher)
    ordered: tuple[tuple[str, str], ...] = ()

    def value(self, name: str) -> float:
        """The parameter's value after overrides."""
        return self.overrides.get(name, self.parameters[name].default)

    def source(self, name: str) -> str:
        """Where the value in force comes from."""
        if name in self.overrides:
            return f"clinic override of {self.parameters[name].source}"
        return self.parameters[name].source

    def source_of_any(self, *names: str) -> str:
        """Where a rule reading several parameters comes from: a clinic's override of any of
        them, else the first's default source."""
        overridden = [name for name in names if name in self.overrides]
        return self.source((overridden or list(names))[0])

    @property
    def version(self) -> str:
        """The version with a digest of the overrides, so decisions name exactly what applied."""
        if not self.overrides:
            return self.base_version
        digest = hashlib.sha256(json.dumps(self.overrides, sort_keys=True).encode()).hexdigest()
        return f"{self.base_version}+clinic.{digest[:8]}"

    def with_overrides(self, overrides: dict[str, float]) -> "RuleSet":
        """A copy with these parameter overrides (unknown names are refused)."""
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise UnknownParameter(", ".join(unknown))
        return RuleSet(self.base_version, self.parameters, {**self.overrides, **overrides},
                       self.ordered)

    def refusal(self, name: str, value: float | None) -> Refusal | None:
        """Why a clinic may not set this value, or (None) return to the default (None: it may):
        outside the parameter's accepted range, or out of order with a parameter it must stay
        below or above; with what it would accept."""
        parameter = self.parameters[name]
        if value is not None and not parameter.admits(value):
            return Refusal(f"{name} {value:g} is outside {parameter.accepted}", parameter.accepted)
        after = self.with_overrides({name: value}) if value is not None else RuleSet(
            self.base_version, self.parameters,
            {key: kept for key, kept in self.overrides.items() if key != name}, self.ordered)
        for lower, higher in self.ordered:
            if name in (lower, higher) and not after.value(lower) < after.value(higher):
                other, side = (higher, "below") if name == lower else (lower, "above")
                return Refusal(f"{lower} ({after.value(lower):g}) must stay below {higher} "
                               f"({after.value(higher):g})",
                               f"{side} {other} ({self.value(other):g}), within "
                               f"{parameter.accepted}")
        return None


@cache
def default_ruleset() -> RuleSet:
    """The shipped rule set with no overrides."""
    table = load_table("ruleset")
    parameters = {name: Parameter(name, float(row["value"]), row["source"], *_accepted(row))
                  for name, row in table["parameters"].items()}
    ordered = tuple((pair["lower"], pair["higher"]) for pair in table.get("below", []))
    return RuleSet(table["version"], parameters, {}, ordered)


def _accepted(row: dict[str, object]) -> tuple[float, float, str]:
    """A parameter's accepted range and why: its own, or a vital sign's plausible range."""
    if "plausible" in row:
        sign = plausible_ranges()[str(row["plausible"])]
        return sign.min, sign.max, f"the plausible range of {sign.label}"
    bounds = row["accepted"]
    assert isinstance(bounds, list) and len(bounds) == 2, row
    return float(bounds[0]), float(bounds[1]), str(row["accepted_source"])
