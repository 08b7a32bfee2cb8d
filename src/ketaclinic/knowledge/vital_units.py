"""The units a FHIR Observation may give each vital sign in, and a value's conversion to the
unit the clinic stores the sign in (vital_units.toml): a weight sent in pounds, a height in
inches or a temperature in Fahrenheit is stored as kilograms, centimetres and Celsius, never as
the number it came with."""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ketaclinic.knowledge.tables import load_table
from ketaclinic.knowledge.vital_limits import plausible_ranges

UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class Conversion:
    """How a value in one unit becomes the stored unit's: (value - minus) * factor."""

    factor: float
    minus: float = 0.0

    def apply(self, value: float) -> float:
        """The value in the stored unit."""
        return (value - self.minus) * self.factor


@cache
def accepted_units(field_name: str) -> dict[str, Conversion]:
    """The UCUM codes a sign may be sent in, each with its conversion to the stored unit."""
    rows = load_table("vital_units")["units"][field_name]
    return {code: Conversion(float(row["factor"]), float(row.get("minus", 0.0)))
            for code, row in rows.items()}


@cache
def _said() -> dict[str, str]:
    return dict(load_table("vital_units")["said"])


def unit_as_sent(quantity: Mapping[str, Any]) -> str:
    """The unit a Quantity gives its value in, as sent: its `code` (when the code's system is
    UCUM or unnamed), else its `unit` as a person writes it; '' when it gives neither."""
    code = quantity.get("code")
    if isinstance(code, str) and code.strip() and quantity.get("system") in (None, UCUM):
        return code.strip()
    unit = quantity.get("unit")
    return unit.strip() if isinstance(unit, str) else ""


def unit_of(quantity: Mapping[str, Any]) -> str:
    """The UCUM code a vital sign's Quantity gives its value in, a person's spelling of a vital
    sign's unit ('lbs', '°F') read as the code it means."""
    sent = unit_as_sent(quantity)
    return _said().get(sent, sent)


def in_stored_unit(field_name: str, quantity: Any) -> tuple[float | None, str]:
    """A valueQuantity's value in the unit the clinic stores the sign in, and ''; or None and
    why it cannot be read (no number, or a unit not accepted for the sign, naming those that
    are)."""
    if not isinstance(quantity, Mapping):
        return None, "no valueQuantity"
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None, "valueQuantity.value is not a number"
    accepted = accepted_units(field_name)
    unit = unit_of(quantity)
    if not unit and len(accepted) == 1:
        unit = next(iter(accepted))
    conversion = accepted.get(unit)
    if conversion is None:
        label = plausible_ranges()[field_name].label
        given = f"unit {unit!r}" if unit else "no unit"
        return None, (f"valueQuantity: {given} for {label} (accepted UCUM codes: "
                      f"{', '.join(accepted)})")
    if conversion == Conversion(1.0):
        return float(value), ""
    return round(conversion.apply(float(value)), 2), ""
