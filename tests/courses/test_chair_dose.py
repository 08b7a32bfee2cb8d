"""At the chair the dose follows today's weight when the route is dosed by weight."""

from ketaclinic.courses import service as courses
from ketaclinic.courses.models import Course
from ketaclinic.knowledge import dosing


def _course(route: str, weight_kg: float, **chosen: float) -> Course:
    dose = dosing.calculate(route=route, weight_kg=weight_kg, **chosen)
    return Course(route=route, indication="depression", dose=dose)


def test_a_weight_based_dose_is_recalculated_at_today_s_weight() -> None:
    course = _course("iv", 70.0)
    assert course.dose is not None and course.dose.dose_mg == 35.0  # 0.5 mg/kg
    today = courses.chair_dose(course, 80.0)
    assert today.weights_differ and today.problem == ""
    assert today.dose_mg == 40.0 and today.weight_kg == 80.0
    assert (today.signed_weight_kg, today.signed.dose_mg) == (70.0, 35.0)


def test_the_same_weight_keeps_the_signed_dose() -> None:
    course = _course("iv", 70.0)
    same = courses.chair_dose(course, 70.0)
    assert not same.weights_differ and same.dose_mg == 35.0


def test_no_weight_today_keeps_the_signed_dose_and_weight() -> None:
    unweighed = courses.chair_dose(_course("iv", 70.0), None)
    assert unweighed.today is None and unweighed.dose_mg == 35.0 and unweighed.weight_kg == 70.0


def test_a_device_dose_does_not_follow_weight() -> None:
    course = Course(route="esketamine", indication="depression",
                    dose=dosing.calculate(route="esketamine"))
    spray = courses.chair_dose(course, 95.0)
    assert spray.today is None and spray.dose_mg == course.dose.dose_mg


def test_a_recalculation_the_limits_refuse_is_shown_and_the_signed_dose_stays() -> None:
    course = _course("oral", 40.0)
    heavy = courses.chair_dose(course, 400.0)
    assert heavy.today is None and heavy.problem and heavy.dose_mg == course.dose.dose_mg
