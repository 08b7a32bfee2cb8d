"""How a bedside monitor's observations map to the clinic's vital-sign fields
(monitor_codes.toml): MDC and LOINC codes, and the units accepted for each field."""

from functools import cache

from ketaclinic.knowledge import vital_units
from ketaclinic.knowledge.tables import load_table
from ketaclinic.knowledge.vital_units import Conversion


@cache
def fields_by_code() -> tuple[dict[str, str], dict[str, str]]:
    """(MDC code -> field, LOINC code -> field)."""
    mdc: dict[str, str] = {}
    loinc: dict[str, str] = {}
    for row in load_table("monitor_codes")["observation"]:
        mdc.update(dict.fromkeys(row["mdc"], row["field"]))
        loinc.update(dict.fromkeys(row["loinc"], row["field"]))
    return mdc, loinc


@cache
def accepted_units(field_name: str) -> dict[str, Conversion]:
    """The units a field's value may come in, each with its conversion to the clinic's unit: a
    factor, or the UCUM code whose conversion vital_units.toml gives (Fahrenheit)."""
    ucum = vital_units.accepted_units(field_name)
    return {str(unit): ucum[row] if isinstance(row, str) else Conversion(float(row))
            for unit, row in load_table("monitor_codes")["units"][field_name]["accepted"].items()}
