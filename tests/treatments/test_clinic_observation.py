"""Discharge on the clinic's rule set. The minimum observation after dosing is a clinic default
above a floor from the sources (protocol-facts §5, §6: RUPA-2024 observes 30 to 60 minutes
after IV treatment; esketamine at least 2 hours), so a clinic's medical director may change it
as any rule-set parameter: discharge waits for the clinic's, and a treatment appointment holds
its chair for it. Before, the minimum lived in the monitoring table, and a clinic observing 90
minutes after an infusion had discharge allowed at 60 and the next patient booked into the
chair."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.clinics.models import RuleOverride
from ketaclinic.scheduling import booking
from tests.scheduling.helpers import DESK, course, staffed_site, weekday_ahead_at
from tests.treatments.test_clinic_alarm_limits import discharge_follows
from tests.treatments.test_clinic_pressure_limits import _override, refused_override
from tests.treatments.test_flow import post
from tests.treatments.test_sparse_pressures import _criteria, _dosed_and_observed


def test_discharge_waits_for_the_clinic_s_minimum_observation(api, web, world,
                                                              db: Session) -> None:
    session, row = _dosed_and_observed(api, world, db)  # dosing ended 70 minutes ago
    assert "observation-time" not in _criteria(api, session)  # the shipped 60 minutes are over
    _override(api, "observation_iv_min", 90)
    state = api["nurse_a"].get(f"/api/v1/treatment-sessions/{session}").json()
    [waiting] = [m for m in state["discharge_missing"] if m["criterion"] == "observation-time"]
    assert "of the 90 min observation remain" in waiting["message"]
    assert waiting["source"].startswith("clinic override of")
    refused = post(api, "nurse_a", session, "discharge",
                   {"escort_present": True, "driving_warning_given": True})
    assert refused.status_code == 422
    assert "observation-time" in [e["field"] for e in refused.json()["errors"]]
    assert row.dose_end is not None
    ends = (row.dose_end + timedelta(minutes=90)).astimezone(ZoneInfo("America/New_York"))
    page = web["nurse_a"].get(f"/treatment-sessions/{session}")
    assert f"observation until {ends:%H:%M}" in page.text


def test_a_treatment_appointment_holds_the_chair_for_the_clinic_s_observation(
        api, db: Session, world) -> None:
    site = staffed_site(db)
    start = weekday_ahead_at(9)
    _, patient = course(db, "iv", start.date())
    shipped = booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=start,
                           actor=DESK)
    _override(api, "observation_iv_min", 90)
    later = start + timedelta(hours=4)
    longer = booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=later,
                          actor=DESK)
    assert (longer.ends_at - longer.starts_at) - (shipped.ends_at - shipped.starts_at) == \
        timedelta(minutes=30)


def test_no_clinic_value_below_the_floor_of_the_sources(api, db: Session) -> None:
    for parameter, value, floor in (("observation_esketamine_min", 90, "not below 120"),
                                    ("observation_iv_min", 20, "not below 30"),
                                    ("observation_oral_min", 45, "not below 60")):
        assert floor in refused_override(api, parameter, value)["accepted"]
    assert db.execute(select(func.count()).select_from(RuleOverride)).scalar_one() == 0
    assert db.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "rule-override")).scalar_one() == 0


def test_discharge_reads_the_heart_rate_settled_on_the_clinic_s_rule(
        api, world, db: Session) -> None:
    """The heart rate discharge calls settled (below 100, or within 20 % of the baseline) is a
    clinic default too."""
    discharge_follows(api, world, db, {"heart_rate_bpm": 104}, "heart-rate-settled",
                      "discharge_heart_rate_max_bpm", 110)
