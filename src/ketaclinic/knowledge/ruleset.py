"""The versioned rule set: default parameters with sources, and a clinic's overrides."""

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache

from ketaclinic.knowledge.tables import load_table


class UnknownParameter(KeyError):
    """An override names a parameter the rule set does not have."""


@dataclass(frozen=True)
class Parameter:
    """One number a rule uses, its default and where the default comes from."""

    name: str
    default: float
    source: str


@dataclass(frozen=True)
class RuleSet:
    """The rule-set version, its parameters, and the overrides in force."""

    base_version: str
    parameters: dict[str, Parameter]
    overrides: dict[str, float] = field(default_factory=dict)

    def value(self, name: str) -> float:
        """The parameter's value after overrides."""
        return self.overrides.get(name, self.parameters[name].default)

    def source(self, name: str) -> str:
        """Where the value in force comes from."""
        if name in self.overrides:
            return f"clinic override of {self.parameters[name].source}"
        return self.parameters[name].source

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
        return RuleSet(self.base_version, self.parameters, {**self.overrides, **overrides})


@cache
def default_ruleset() -> RuleSet:
    """The shipped rule set with no overrides."""
    table = load_table("ruleset")
    parameters = {
        name: Parameter(name, float(row["value"]), row["source"])
        for name, row in table["parameters"].items()
    }
    return RuleSet(table["version"], parameters)
