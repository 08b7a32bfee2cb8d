"""Dose calculation by route, indication and weight, with the basis and source of every dose."""

from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import Any

from ketaclinic.knowledge.refusal import Refused
from ketaclinic.knowledge.ruleset import RuleSet
from ketaclinic.knowledge.tables import load_table
from ketaclinic.knowledge.vital_limits import plausible_ranges
from ketaclinic.knowledge.vital_units import accepted_units


class DoseRefused(Refused):
    """A dose outside the table's range (or an input that cannot be dosed), naming the field."""


@dataclass(frozen=True)
class Dose:
    """A calculated dose and how it was reached."""

    route: str
    indication: str
    dose_mg: float
    basis: str
    source: str
    mg_per_kg: float | None = None
    weight_kg: float | None = None
    duration_min: float | None = None
    rate_mg_per_h: float | None = None
    mg_per_kg_per_h: float | None = None
    titration_step_mg_per_kg: float | None = None
    max_mg_per_kg: float | None = None
    devices: int | None = None
    device_mg: float | None = None
    device_spacing_min: float | None = None
    override_reason: str | None = None
    hard_limit: str | None = None  # the absolute limit, shown beside the dose
    ruleset_version: str | None = None  # the rule set (and clinic's overrides) it was judged on


    def as_dict(self) -> dict[str, Any]:
        """The dose as JSON-ready data, leaving out what does not apply to the route."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@cache
def _table() -> dict[str, Any]:
    return load_table("dosing")


def indications(route: str) -> list[str]:
    """The indications the table doses for a route."""
    return list(_table().get(route, {}))


def _table_row(route: str, indication: str) -> dict[str, Any]:
    routes = [k for k, v in _table().items() if isinstance(v, dict)]
    if route not in routes:
        raise DoseRefused("route", f"unknown route {route!r}", ", ".join(routes))
    if indication not in _table()[route]:
        raise DoseRefused("indication", f"{indication!r} is not dosed for {route}",
                          ", ".join(indications(route)))
    row: dict[str, Any] = _table()[route][indication]
    return row


def _row(route: str, indication: str, ruleset: RuleSet) -> dict[str, Any]:
    """The table's row for the route and indication, its ceiling the clinic's where the table
    leaves it to the rule set (`max_from`), with `max_source` naming a clinic's override."""
    row = _table_row(route, indication)
    parameter = row.get("max_from")
    if parameter is None:
        return row
    ceiling = "max_mg_per_kg_per_h" if row["mode"] == "per_hour" else "max_mg_per_kg"
    overridden = parameter in ruleset.overrides
    return {**row, ceiling: ruleset.value(parameter),
            "max_source": ruleset.source(parameter) if overridden else None}


def _check_weight(weight_kg: float | None) -> float:
    limits = plausible_ranges()["weight_kg"]
    if weight_kg is None:
        raise DoseRefused("weight_kg", "is required for a weight-based route", limits.describe())
    if not limits.contains(weight_kg):
        raise DoseRefused("weight_kg", f"{weight_kg:g} is outside the possible range",
                          limits.describe())
    return weight_kg


def weight_change_problem(reference_kg: float, weight_kg: float, reference: str,
                          ruleset: RuleSet) -> str | None:
    """Why a weight is doubted: it is further from a weight known before (`reference` says
    which: 'the weight the dose was signed at') than the clinic allows (its rule set), as a
    weight typed in pounds is (2.2 times the kilograms); None when it is not."""
    limit = ruleset.value("weight_recheck_above_pct")
    change = (weight_kg - reference_kg) / reference_kg * 100
    if abs(change) <= limit:
        return None
    pounds = accepted_units("weight_kg")["[lb_av]"].apply(weight_kg)
    return (f"{weight_kg:g} kg is {abs(change):.0f} % {'above' if change > 0 else 'below'} "
            f"{reference}, {reference_kg:g} kg (more than {limit:g} %; "
            f"{ruleset.source('weight_recheck_above_pct')}): check it was weighed in kilograms "
            f"({weight_kg:g} lb would be {pounds:.1f} kg)")


def _check_positive(field: str, value: float, unit: str) -> None:
    """Zero or a negative dose is never accepted, with or without an override."""
    if not value > 0:
        raise DoseRefused(field, f"{value:g} {unit} is not a dose", f"more than 0 {unit}")


def _check_range(field: str, value: float, low: float, high: float, unit: str,
                 override_reason: str | None, hard: float | None = None,
                 ceiling_source: str | None = None) -> None:
    """The clinic's standard range (an override reason may go outside it; `ceiling_source`
    names a ceiling the clinic set), never the hard limit (no override passes it)."""
    _check_positive(field, value, unit)
    if hard is not None and value > hard:
        raise DoseRefused(field, f"{value:g} {unit} is above the hard limit of {hard:g} {unit}, "
                          "which no override passes", f"more than 0 and at most {hard:g} {unit}")
    if not low <= value <= high and not override_reason:
        highest = high if hard is None else min(high, hard)
        raise DoseRefused(field, f"{value:g} {unit} is outside the allowed range",
                          f"{low:g} to {highest:g} {unit}"
                          + (f" (ceiling: {ceiling_source})" if ceiling_source else "")
                          + ", or a prescriber's recorded override "
                          "reason" + (f" (never above {hard:g} {unit})" if hard is not None else ""))


def _hard_text(limit: float, unit: str, row: dict[str, Any], weight: float | None = None,
               hours: float | None = None) -> str:
    """The hard limit as a person reads it beside the dose, with its source."""
    text = f"hard limit {limit:g} {unit}"
    if weight is not None and unit == "mg/kg":
        text += f" = {limit * weight:g} mg at {weight:g} kg"
    if weight is not None and unit == "mg/kg/h" and hours is not None:
        text += f" = {limit * weight * hours:g} mg over {hours:g} h at {weight:g} kg"
    return f"{text} ({row['hard_source']})"


def oral_bioavailability() -> float:
    """The oral bioavailability used for dose equivalence (pk.toml)."""
    return float(load_table("pk")["oral"]["bioavailability"])


def calculate(*, route: str, ruleset: RuleSet, weight_kg: float | None = None,
              indication: str = "depression", mg_per_kg: float | None = None,
              dose_mg: float | None = None, override_reason: str | None = None) -> Dose:
    """The dose for the route and indication (mg_per_kg is mg/kg/h for IV pain) within the
    clinic's standard range (its rule set sets the ceilings it may) unless a reason is given,
    never above the route's hard limit and never 0 mg."""
    dose = _calculate(route=route, weight_kg=weight_kg, indication=indication, mg_per_kg=mg_per_kg,
                      dose_mg=dose_mg, override_reason=override_reason, ruleset=ruleset)
    if not dose.dose_mg > 0:
        raise DoseRefused("mg_per_kg", f"{dose.mg_per_kg:g} mg/kg comes to {dose.dose_mg:g} mg",
                          "a dose of at least 0.1 mg")
    return replace(dose, ruleset_version=ruleset.version)


def _calculate(*, route: str, weight_kg: float | None, indication: str, mg_per_kg: float | None,
               dose_mg: float | None, override_reason: str | None, ruleset: RuleSet) -> Dose:
    row = _row(route, indication, ruleset)
    mode = row["mode"]
    reason = (override_reason or "").strip() or None
    basis = _table()["weight_basis"]
    if mode == "devices":
        return _devices(route, indication, row, dose_mg, reason)
    weight = _check_weight(weight_kg)
    if mode == "per_hour":
        rate = row["mg_per_kg_per_h"] if mg_per_kg is None else mg_per_kg
        hard = row["hard_max_mg_per_kg_per_h"]
        _check_range("mg_per_kg", rate, row["min_mg_per_kg_per_h"], row["max_mg_per_kg_per_h"],
                     "mg/kg/h", reason, hard, row.get("max_source"))
        hours = row["duration_min"] / 60
        return Dose(route, indication, round(rate * weight * hours, 1),
                    f"{rate:g} mg/kg/h x {weight:g} kg x {hours:g} h; {basis}", row["source"],
                    mg_per_kg=round(rate * hours, 3), weight_kg=weight,
                    duration_min=row["duration_min"], rate_mg_per_h=round(rate * weight, 1),
                    mg_per_kg_per_h=rate, override_reason=reason,
                    hard_limit=_hard_text(hard, "mg/kg/h", row, weight, hours))
    if mode == "oral_equivalent":
        return _oral(route, indication, row, weight, mg_per_kg, reason)
    per_kg = row["mg_per_kg"] if mg_per_kg is None else mg_per_kg
    hard = row["hard_max_mg_per_kg"]
    _check_range("mg_per_kg", per_kg, row["min_mg_per_kg"], row["max_mg_per_kg"], "mg/kg", reason,
                 hard, row.get("max_source"))
    dose = round(per_kg * weight, 1)
    limit = _hard_text(hard, "mg/kg", row, weight)
    if mode == "titration":
        return Dose(route, indication, dose, f"{per_kg:g} mg/kg x {weight:g} kg; {basis}",
                    row["source"], mg_per_kg=per_kg, weight_kg=weight,
                    titration_step_mg_per_kg=row["step_mg_per_kg"],
                    max_mg_per_kg=row["max_mg_per_kg"], override_reason=reason, hard_limit=limit)
    duration = row["duration_min"]
    return Dose(route, indication, dose, f"{per_kg:g} mg/kg x {weight:g} kg; {basis}",
                row["source"], mg_per_kg=per_kg, weight_kg=weight, duration_min=duration,
                rate_mg_per_h=round(dose * 60 / duration, 1), override_reason=reason,
                hard_limit=limit)


def _oral(route: str, indication: str, row: dict[str, Any], weight: float,
          mg_per_kg: float | None, reason: str | None) -> Dose:
    """Oral: by weight from the IV equivalent, never above the per-dose hard limit in mg. The
    default dose of a heavy patient is capped at the limit, and says so; a chosen dose above it
    is refused."""
    basis = _table()["weight_basis"]
    hard = float(row["hard_max_mg"])
    default = row["iv_equivalent_mg_per_kg"] / oral_bioavailability()
    per_kg = round(default, 3) if mg_per_kg is None else mg_per_kg
    _check_range("mg_per_kg", per_kg, row["min_mg_per_kg"], row["max_mg_per_kg"], "mg/kg", reason)
    dose = round(per_kg * weight, 1)
    how = (f"{per_kg:g} mg/kg x {weight:g} kg (IV {row['iv_equivalent_mg_per_kg']:g} mg/kg "
           f"/ oral bioavailability {oral_bioavailability():g}); {basis}")
    if dose > hard:
        if mg_per_kg is not None:
            raise DoseRefused("mg_per_kg", f"{per_kg:g} mg/kg x {weight:g} kg is {dose:g} mg, above "
                              f"the hard limit of {hard:g} mg per dose, which no override passes",
                              f"at most {hard / weight:.3g} mg/kg at {weight:g} kg")
        how = f"capped at the hard limit of {hard:g} mg (by weight it would be {dose:g} mg: {how})"
        dose, per_kg = hard, round(hard / weight, 3)
    return Dose(route, indication, dose, how, row["source"], mg_per_kg=per_kg, weight_kg=weight,
                override_reason=reason, hard_limit=_hard_text(hard, "mg", row))


def check_given(*, route: str, dose_mg: float, weight_kg: float | None, ruleset: RuleSet,
                indication: str = "depression", override_reason: str | None = None) -> Dose:
    """Check a dose given at the chair (a total in mg) in the units of the route's rule, on the
    clinic's rule set: a total against totals, and for a per-hour infusion the total against
    the rate limits over the infusion's planned length."""
    checked = _checked_given(route=route, dose_mg=dose_mg, weight_kg=weight_kg, ruleset=ruleset,
                             indication=indication, override_reason=override_reason)
    return replace(checked, ruleset_version=ruleset.version)


def _checked_given(*, route: str, dose_mg: float, weight_kg: float | None, ruleset: RuleSet,
                   indication: str, override_reason: str | None) -> Dose:
    row = _row(route, indication, ruleset)
    reason = (override_reason or "").strip() or None
    _check_positive("dose_mg", dose_mg, "mg")
    if row["mode"] == "devices":
        return _devices(route, indication, row, dose_mg, reason)
    weight = _check_weight(weight_kg)
    exact_per_kg = dose_mg / weight
    per_kg = round(exact_per_kg, 3)
    if row["mode"] != "per_hour":
        try:
            checked = calculate(route=route, weight_kg=weight, indication=indication,
                                mg_per_kg=exact_per_kg, override_reason=reason, ruleset=ruleset)
            return replace(checked, dose_mg=dose_mg, mg_per_kg=per_kg)
        except DoseRefused as exc:
            raise DoseRefused("dose_mg", f"{dose_mg:g} mg is {per_kg:g} mg/kg: {exc.message}",
                              exc.accepted) from None
    hours = row["duration_min"] / 60
    low, high = row["min_mg_per_kg_per_h"] * hours, row["max_mg_per_kg_per_h"] * hours
    hard = row["hard_max_mg_per_kg_per_h"] * hours
    try:
        _check_range("dose_mg", exact_per_kg, low, high, "mg/kg", reason, hard,
                     row.get("max_source"))
    except DoseRefused as exc:
        raise DoseRefused("dose_mg", f"{dose_mg:g} mg is {per_kg:g} mg/kg over {hours:g} h: "
                          f"{exc.message}", exc.accepted) from None
    return Dose(route, indication, dose_mg, f"{dose_mg:g} mg given over {hours:g} h = "
                f"{per_kg / hours:.3g} mg/kg/h at {weight:g} kg", row["source"], mg_per_kg=per_kg,
                weight_kg=weight, duration_min=row["duration_min"],
                mg_per_kg_per_h=round(per_kg / hours, 3), override_reason=reason,
                hard_limit=_hard_text(row["hard_max_mg_per_kg_per_h"], "mg/kg/h", row, weight,
                                      hours))


def _devices(route: str, indication: str, row: dict[str, Any], dose_mg: float | None,
             reason: str | None) -> Dose:
    dose = float(row["first_dose_mg"] if dose_mg is None else dose_mg)
    allowed = [float(d) for d in row["doses_mg"]]
    hard = float(row["hard_max_mg"])
    _check_positive("dose_mg", dose, "mg")
    if dose > hard:
        raise DoseRefused("dose_mg", f"{dose:g} mg is above the hard limit of {hard:g} mg per "
                          "session, which no override passes", " or ".join(f"{d:g} mg" for d in allowed))
    if dose not in allowed and not reason:
        raise DoseRefused("dose_mg", f"{dose:g} mg is not a labelled dose",
                          " or ".join(f"{d:g} mg" for d in allowed))
    device_mg = float(row["device_mg"])
    if dose % device_mg:
        raise DoseRefused("dose_mg", f"{dose:g} mg is not a whole number of {device_mg:g} mg devices",
                          f"multiples of {device_mg:g} mg")
    devices = int(dose // device_mg)
    spacing = float(row["device_spacing_min"])
    return Dose(route, indication, dose,
                f"fixed dose: {devices} devices of {device_mg:g} mg, {spacing:g} min apart "
                "(not weight-based)", row["source"], duration_min=(devices - 1) * spacing,
                devices=devices, device_mg=device_mg, device_spacing_min=spacing,
                override_reason=reason, hard_limit=_hard_text(hard, "mg", row))


def infusion_minutes(route: str, indication: str = "depression") -> float | None:
    """How long the route's dose runs (an IV infusion's minutes), None where it does not run."""
    minutes = _table_row(route, indication).get("duration_min")
    return float(minutes) if minutes is not None else None


def device_mg(route: str) -> float:
    """The amount in one device for a device-dosed route (esketamine: 28 mg)."""
    row = next(iter(_table()[route].values()))
    return float(row["device_mg"])


def device_spacing_min(route: str) -> float:
    """Minutes required between devices for a device-dosed route."""
    row = next(iter(_table()[route].values()))
    return float(row["device_spacing_min"])
