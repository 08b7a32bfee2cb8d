"""Plausibility limits for recorded vital signs and body measurements."""

from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge.tables import load_table


@dataclass(frozen=True)
class PlausibleRange:
    """The accepted closed range for one measurement, with its source."""

    field: str
    label: str
    unit: str
    min: float
    max: float
    source: str

    def contains(self, value: float) -> bool:
        """Whether the value is physiologically possible."""
        return self.min <= value <= self.max

    def describe(self) -> str:
        """The accepted range as text, e.g. '20 to 350 kg'."""
        return f"{self.min:g} to {self.max:g} {self.unit}"


@cache
def plausible_ranges() -> dict[str, PlausibleRange]:
    """Every plausibility range, keyed by the measurement's field name."""
    return {
        name: PlausibleRange(
            field=name,
            label=row["label"],
            unit=row["unit"],
            min=float(row["min"]),
            max=float(row["max"]),
            source=row["source"],
        )
        for name, row in load_table("vital_limits").items()
    }
