"""Hard dose limits (protocol-facts.md §3): no dose, with or without an override, is above the
route's hard limit or at or below zero; rates are checked as rates and totals as totals."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.knowledge import dosing
from ketaclinic.knowledge.ruleset import default_ruleset
from ketaclinic.knowledge.tables import load_table
from ketaclinic.knowledge.vital_limits import plausible_ranges

TABLE = load_table("dosing")
PAIRS = [(route, indication) for route, rows in TABLE.items() if isinstance(rows, dict)
         for indication in rows]
WEIGHT = plausible_ranges()["weight_kg"]
SHIPPED = default_ruleset()
ANY_NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                       st.floats(min_value=-5, max_value=20), st.just(0.0))
REASON = st.sampled_from([None, "", "prescriber's documented reason: tolerance"])


def hard_limit_mg(route: str, indication: str, weight: float) -> float:
    """The most a session may give, in mg, by the table's hard limit."""
    row = TABLE[route][indication]
    if "hard_max_mg" in row:
        return float(row["hard_max_mg"])
    if "hard_max_mg_per_kg_per_h" in row:
        return row["hard_max_mg_per_kg_per_h"] * weight * row["duration_min"] / 60
    return float(row["hard_max_mg_per_kg"]) * weight


def test_every_route_has_a_sourced_hard_limit_at_or_below_the_standard_ceiling() -> None:
    for route, indication in PAIRS:
        row = TABLE[route][indication]
        hard = [k for k in row if k.startswith("hard_max_")]
        assert len(hard) == 1 and row["hard_source"], (route, indication)
        if "max_mg_per_kg" in row and "hard_max_mg_per_kg" in row:
            assert row["hard_max_mg_per_kg"] <= row["max_mg_per_kg"]


def test_a_clinic_s_ceiling_lies_between_the_standard_dose_and_the_hard_limit() -> None:
    """Where the rule set holds a route's ceiling, every value a clinic may set keeps the
    standard dose within the range and the hard limit above it."""
    ceilings = [(TABLE[route][indication], TABLE[route][indication]["max_from"])
                for route, indication in PAIRS if "max_from" in TABLE[route][indication]]
    assert {parameter for _, parameter in ceilings} == {
        "iv_dose_max_mg_per_kg", "iv_pain_rate_max_mg_per_kg_per_h"}
    for row, name in ceilings:
        parameter = SHIPPED.parameters[name]
        per_hour = row["mode"] == "per_hour"
        standard = row["mg_per_kg_per_h" if per_hour else "mg_per_kg"]
        hard = row["hard_max_mg_per_kg_per_h" if per_hour else "hard_max_mg_per_kg"]
        assert standard <= parameter.lowest <= parameter.default <= parameter.highest <= hard


@given(st.sampled_from(PAIRS), st.floats(min_value=WEIGHT.min, max_value=WEIGHT.max),
       st.one_of(st.none(), ANY_NUMBER), st.one_of(st.none(), ANY_NUMBER), REASON)
def test_no_calculated_dose_passes_the_hard_limit(pair: tuple[str, str], weight: float,
                                                  mg_per_kg: float | None, dose_mg: float | None,
                                                  reason: str | None) -> None:
    route, indication = pair
    try:
        dose = dosing.calculate(route=route, indication=indication, weight_kg=weight,
                                mg_per_kg=mg_per_kg, dose_mg=dose_mg, override_reason=reason,
                                ruleset=SHIPPED)
    except dosing.DoseRefused as refused:
        assert refused.field and refused.accepted
        return
    assert math.isfinite(dose.dose_mg) and dose.dose_mg > 0
    assert dose.dose_mg <= hard_limit_mg(route, indication, weight) + 0.05
    assert dose.hard_limit and "hard limit" in dose.hard_limit


@given(st.sampled_from(PAIRS), st.floats(min_value=WEIGHT.min, max_value=WEIGHT.max),
       ANY_NUMBER.map(lambda x: x * 50), REASON)
def test_no_given_dose_passes_the_hard_limit(pair: tuple[str, str], weight: float,
                                             dose_mg: float, reason: str | None) -> None:
    route, indication = pair
    try:
        checked = dosing.check_given(route=route, indication=indication, weight_kg=weight,
                                     dose_mg=dose_mg, override_reason=reason, ruleset=SHIPPED)
    except dosing.DoseRefused:
        return
    assert 0 < checked.dose_mg <= hard_limit_mg(route, indication, weight) + 0.05


@given(st.floats(min_value=0.05, max_value=1.5), st.floats(min_value=40, max_value=150))
def test_a_pain_infusion_s_total_is_judged_by_its_rate(rate: float, weight: float) -> None:
    row = TABLE["iv"]["pain"]
    hours = row["duration_min"] / 60
    total = round(rate * weight * hours, 1)
    effective_rate = total / weight / hours
    within = row["min_mg_per_kg_per_h"] <= effective_rate <= SHIPPED.value("iv_pain_rate_max_mg_per_kg_per_h")
    try:
        checked = dosing.check_given(route="iv", indication="pain", weight_kg=weight,
                                     dose_mg=total, ruleset=SHIPPED)
    except dosing.DoseRefused:
        assert not within
        return
    assert within and checked.mg_per_kg_per_h == pytest.approx(effective_rate, abs=0.002)


def test_the_units_of_a_pain_infusion() -> None:
    # 0.9 mg/kg/h for 4 h at 70 kg is 252 mg (3.6 mg/kg in total): a rate inside the ceiling.
    assert dosing.check_given(route="iv", indication="pain", weight_kg=70, dose_mg=252,
                              ruleset=SHIPPED).mg_per_kg_per_h == pytest.approx(0.9)
    # 1.2 mg/kg/h is above the 1 mg/kg/h ceiling at the chair, whatever the reason given.
    with pytest.raises(dosing.DoseRefused, match="hard limit"):
        dosing.check_given(route="iv", indication="pain", weight_kg=70, dose_mg=336,
                           override_reason="tolerant patient", ruleset=SHIPPED)


@pytest.mark.parametrize(("kwargs", "field", "fragment"), [
    ({"route": "iv", "weight_kg": 70, "mg_per_kg": 4.5, "override_reason": "induction"},
     "mg_per_kg", "hard limit of 1 mg/kg"),
    ({"route": "iv", "weight_kg": 70, "mg_per_kg": 20, "override_reason": "x"},
     "mg_per_kg", "hard limit"),
    ({"route": "iv", "weight_kg": 70, "mg_per_kg": 0, "override_reason": "x"},
     "mg_per_kg", "is not a dose"),
    ({"route": "iv", "weight_kg": 70, "mg_per_kg": -0.5, "override_reason": "x"},
     "mg_per_kg", "is not a dose"),
    ({"route": "im", "weight_kg": 70, "mg_per_kg": 0.6, "override_reason": "x"},
     "mg_per_kg", "hard limit of 0.5 mg/kg"),
    ({"route": "esketamine", "dose_mg": 112, "override_reason": "x"}, "dose_mg",
     "hard limit of 84 mg"),
    ({"route": "oral", "weight_kg": 70, "mg_per_kg": 5, "override_reason": "x"},
     "mg_per_kg", "above the hard limit of 300 mg"),
])
def test_no_override_passes_a_hard_limit(kwargs: dict, field: str, fragment: str) -> None:
    with pytest.raises(dosing.DoseRefused) as refused:
        dosing.calculate(**kwargs, ruleset=SHIPPED)
    assert refused.value.field == field and fragment in refused.value.message


def test_a_heavy_patient_s_default_oral_dose_is_capped_and_says_so() -> None:
    dose = dosing.calculate(route="oral", weight_kg=250, ruleset=SHIPPED)
    assert dose.dose_mg == 300
    assert dose.basis.startswith("capped at the hard limit of 300 mg (by weight it would be")
    assert "300 mg" in (dose.hard_limit or "")


def test_an_override_still_goes_below_the_standard_range() -> None:
    dose = dosing.calculate(route="iv", weight_kg=70, mg_per_kg=0.05,
                            override_reason="frail; start low", ruleset=SHIPPED)
    assert dose.dose_mg == 3.5 and dose.override_reason == "frail; start low"


def test_the_iv_infusion_runs_its_tabled_minutes_and_a_nasal_dose_does_not() -> None:
    from ketaclinic.knowledge import dosing

    assert dosing.infusion_minutes("iv") == 40
    assert dosing.infusion_minutes("esketamine") is None
