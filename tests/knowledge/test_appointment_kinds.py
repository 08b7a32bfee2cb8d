"""The appointments table handed out as typed rules: booking numbers, reminders and maintenance
defaults read once, with the values the table holds."""

from ketaclinic.knowledge import appointments as rules


def test_booking_and_reminder_rules_are_typed_and_match_the_table() -> None:
    row = rules.table()
    booking = rules.booking_rules()
    assert booking.patients_per_nurse == row["patients_per_nurse"] > 0
    assert booking.late_cancel_hours == row["late_cancel_hours"]
    assert booking.slot_step_min == row["slot_step_min"] and 60 % booking.slot_step_min == 0
    assert booking.max_days_ahead == row["booking"]["max_days_ahead"]
    said = rules.reminder_rules()
    assert said.hours_before == row["reminders"]["hours_before"]
    assert said.retry_after_min == tuple(row["reminders"]["retry_after_min"])
    assert len(said.retry_after_min) == said.max_attempts - 1
    assert "drive" in said.ride_home and "2 hours" in said.esketamine_fasting


def test_every_treatment_route_has_a_maintenance_default_with_its_source() -> None:
    for route in rules.TREATMENT_ROUTES:
        default = rules.maintenance_default(route)
        assert 7 <= default.interval_days <= 28 and default.source
    assert rules.maintenance_default("unknown") == rules.maintenance_default("iv")
