"""Plausibility limits for recorded vital signs and body measurements."""

from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge.tables import load_table

# UCUM codes (kept for FHIR) as a person writes them.
UNITS_FOR_PEOPLE = {"Cel": "°C", "mm[Hg]": "mmHg", "/min": "/min", "kg": "kg", "cm": "cm",
                    "%": "%"}


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

    @property
    def shown_unit(self) -> str:
        """The unit as a person writes it ('°C' for UCUM's 'Cel')."""
        return UNITS_FOR_PEOPLE.get(self.unit, self.unit)

    @property
    def heading(self) -> str:
        """A form label: 'Body temperature (°C)', 'SpO2 (%)'."""
        return f"{self.label[:1].upper()}{self.label[1:]} ({self.shown_unit})"

    def describe(self) -> str:
        """The accepted range as text, e.g. '20 to 350 kg'."""
        return f"{self.min:g} to {self.max:g} {self.shown_unit}"


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
