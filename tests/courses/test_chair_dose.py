"""At the chair the dose follows today's weight when the route is dosed by weight."""

import pytest

from ketaclinic.courses import service as courses
from ketaclinic.courses.models import Course
from ketaclinic.knowledge import dosing
from ketaclinic.knowledge.ruleset import default_ruleset

SHIPPED = default_ruleset()


def _course(route: str, weight_kg: float, **chosen: float) -> Course:
    dose = dosing.calculate(route=route, weight_kg=weight_kg, ruleset=SHIPPED, **chosen)
    return Course(route=route, indication="depression", dose=dose)


def test_a_weight_based_dose_is_recalculated_at_today_s_weight() -> None:
    course = _course("iv", 70.0)
    assert course.dose is not None and course.dose.dose_mg == 35.0  # 0.5 mg/kg
    today = courses.chair_dose(course, 80.0, SHIPPED)
    assert today.weights_differ and today.problem == ""
    assert today.dose_mg == 40.0 and today.weight_kg == 80.0
    assert (today.signed_weight_kg, today.signed.dose_mg) == (70.0, 35.0)


def test_the_same_weight_keeps_the_signed_dose() -> None:
    course = _course("iv", 70.0)
    same = courses.chair_dose(course, 70.0, SHIPPED)
    assert not same.weights_differ and same.dose_mg == 35.0


def test_no_weight_today_keeps_the_signed_dose_and_weight() -> None:
    unweighed = courses.chair_dose(_course("iv", 70.0), None, SHIPPED)
    assert unweighed.today is None and unweighed.dose_mg == 35.0 and unweighed.weight_kg == 70.0


def test_a_device_dose_does_not_follow_weight() -> None:
    course = Course(route="esketamine", indication="depression",
                    dose=dosing.calculate(route="esketamine", ruleset=SHIPPED))
    spray = courses.chair_dose(course, 95.0, SHIPPED)
    assert spray.today is None and spray.dose_mg == course.dose.dose_mg


def test_a_recalculation_the_limits_refuse_is_shown_and_the_signed_dose_stays() -> None:
    course = _course("oral", 40.0, mg_per_kg=7.0)
    heavier = courses.chair_dose(course, 45.0, SHIPPED)
    assert heavier.today is None and "above the hard limit of 300 mg" in heavier.problem
    assert heavier.dose_mg == course.dose.dose_mg == 280.0


def test_a_weight_typed_in_pounds_is_not_dosed_from() -> None:
    """70 kg signed at 0.5 mg/kg is 35 mg; today's weight typed as 154 (the patient's pounds)
    recalculated the dose to 77 mg, and the given dose was checked per kilogram of 154 kg, so
    the doubled dose passed every limit. Today's weight that far from the signed one is shown
    as the problem; the signed dose and weight stand."""
    course = _course("iv", 70.0)
    pounds = courses.chair_dose(course, 154.0, SHIPPED)
    assert pounds.today is None and pounds.dose_mg == 35.0 and pounds.weight_kg == 70.0
    assert "154 kg is 120 % above the weight the dose was signed at, 70 kg" in pounds.problem
    assert "154 lb would be 69.9 kg" in pounds.problem
    with pytest.raises(dosing.DoseRefused):
        dosing.check_given(route="iv", dose_mg=77.0, weight_kg=pounds.weight_kg, ruleset=SHIPPED)
    # A weight within the clinic's margin is dosed from, as before.
    assert courses.chair_dose(course, 80.0, SHIPPED).weight_kg == 80.0
