"""The REMS form's answers from the monitoring: "BP at 40 minutes", the reading nearest 40 min
within the tolerance, or none; the pressure before discharge and respiratory depression, from
what followed the dose alone."""

from datetime import UTC, date, datetime, timedelta

from ketaclinic.knowledge.monitoring import Reading, alarm_limits
from ketaclinic.knowledge.rems import RemsForm, checkpoint_window, fill
from ketaclinic.knowledge.ruleset import default_ruleset
from ketaclinic.knowledge.session_events import Noted

FIRST_DEVICE = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def form_with(*minutes_and_bp: tuple[int, int, int], overrides: dict | None = None) -> str:
    return _form([Reading(FIRST_DEVICE + timedelta(minutes=m), systolic_mmhg=s, diastolic_mmhg=d)
                  for m, s, d in minutes_and_bp], overrides=overrides).bp_at_40_min


def test_the_reading_nearest_40_minutes_inside_the_tolerance() -> None:
    assert form_with((10, 130, 80), (38, 142, 88), (55, 136, 84)) == "142/88"
    assert form_with((31, 150, 90), (49, 140, 86)) == "150/90"


def test_a_reading_outside_30_to_50_minutes_is_not_the_40_minute_reading() -> None:
    assert form_with((10, 130, 80), (118, 128, 82)) == "not recorded"
    assert form_with((29, 150, 90), (51, 140, 86)) == "not recorded"


def test_a_systolic_without_a_diastolic_is_never_written_as_a_diastolic_of_0() -> None:
    reading = [Reading(FIRST_DEVICE + timedelta(minutes=40), systolic_mmhg=152)]
    assert _form(reading).bp_at_40_min == "152 systolic (no diastolic recorded)"


def test_the_tolerance_around_40_minutes_is_the_clinic_s() -> None:
    """protocol-facts §5 calls the 30 to 50 min tolerance a clinic default: a clinic that takes
    the 40-minute pressure between 35 and 45 minutes reports a reading at 32 as not recorded."""
    assert form_with((32, 150, 90)) == "150/90"
    narrower = {"rems_bp_checkpoint_earliest_min": 35, "rems_bp_checkpoint_latest_min": 45}
    assert form_with((32, 150, 90), (47, 140, 86), overrides=narrower) == "not recorded"
    assert form_with((32, 150, 90), (44, 140, 86), overrides=narrower) == "140/86"
    assert checkpoint_window(default_ruleset().with_overrides(narrower)) == (35, 45)


def _form(readings: list[Reading], events: list[Noted] | None = None,
          overrides: dict | None = None) -> RemsForm:
    ruleset = default_ruleset().with_overrides(overrides or {})
    return fill(patient_name="Pat Test", birth_date=date(1980, 1, 1), sex="female",
                medications=[], provider="prescriber", site="A", session_day=FIRST_DEVICE.date(),
                dose_mg=56, lot_number="L1", first_device=FIRST_DEVICE,
                monitoring_ended=FIRST_DEVICE + timedelta(minutes=125), ready_to_leave=None,
                readings=readings, baseline=None, events=events or [], pre_dose_ok=True,
                discharged_cleanly=True, alarms=alarm_limits(ruleset),
                window=checkpoint_window(ruleset))


def test_a_low_saturation_before_the_dose_is_not_respiratory_depression() -> None:
    before = Reading(FIRST_DEVICE - timedelta(minutes=5), spo2_pct=92)
    after = [Reading(FIRST_DEVICE + timedelta(minutes=m), spo2_pct=97) for m in (10, 40, 100)]
    assert _form([before, *after]).respiratory_depression is False
    dip = Reading(FIRST_DEVICE + timedelta(minutes=20), spo2_pct=91)
    assert _form([before, dip, *after]).respiratory_depression is True


def test_a_pressure_before_the_dose_is_not_the_pressure_before_discharge() -> None:
    before = Reading(FIRST_DEVICE - timedelta(minutes=5), systolic_mmhg=128, diastolic_mmhg=80)
    assert _form([before]).bp_before_discharge == "not recorded"
    after = Reading(FIRST_DEVICE + timedelta(minutes=110), systolic_mmhg=134, diastolic_mmhg=84)
    late = Reading(FIRST_DEVICE + timedelta(minutes=130), systolic_mmhg=150, diastolic_mmhg=95)
    assert _form([before, after, late]).bp_before_discharge == "134/84"


def _at(minutes: int) -> datetime:
    return FIRST_DEVICE + timedelta(minutes=minutes)


def test_scores_before_the_dose_are_not_sedation_or_dissociation_during_monitoring() -> None:
    """A baseline CADSS of 8 (a patient with PTSD can dissociate before any dose) and a MOAA/S
    of 4 on arrival made the form answer "yes" to dissociation and sedation, though the
    patient was alert and scored 2 on the CADSS throughout the monitoring."""
    before = [Noted(_at(-10), "cadss", 8), Noted(_at(-10), "moass", 4),
              Noted(_at(-5), "side-effect", code="respiratory-depression")]
    during = [Noted(_at(40), "cadss", 2), Noted(_at(40), "moass", 5)]
    form = _form([], before + during)
    assert (form.sedation, form.dissociation, form.respiratory_depression) == (False, False, False)
    form = _form([], before + during + [Noted(_at(45), "cadss", 6), Noted(_at(45), "moass", 3)])
    assert (form.sedation, form.dissociation) == (True, True)
