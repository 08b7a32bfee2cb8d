"""A prescriber's reason to dose despite the baseline pressure covers the pressure they judged:
a pressure measured after it that is higher needs a decision of its own."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from tests.treatments.test_clinic_pressure_limits import DOSE, _ready_with_baseline, _state
from tests.treatments.test_flow import ago, post

REASON = {"reason": "white-coat pattern; 146/92 is her usual clinic pressure"}


def _remeasure(api, session: str, systolic: int, diastolic: int, minutes_ago: int) -> None:
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": systolic, "diastolic_mmhg": diastolic,
         "taken_at": ago(minutes_ago)}]}).status_code == 201


def test_an_override_does_not_carry_to_a_higher_pressure_measured_after_it(
        api, world, db: Session) -> None:
    """146/92, overridden; then re-measured at 186/114, the hypertensive-urgency range. The
    override was a flag on the session, so the dose went ahead on a pressure no prescriber had
    seen."""
    session = _ready_with_baseline(api, world, db, 146, 92)
    assert post(api, "nurse_a", session, "pre-dose/override", REASON).status_code == 403
    assert post(api, "prescriber", session, "pre-dose/override", REASON).status_code == 200
    state = _state(api, session)
    assert state["pre_dose_problem"] and state["pre_dose_overridden"] is True
    event = db.execute(select(AuditEvent).where(AuditEvent.action == "override")).scalar_one()
    assert "146/92" in event.detail
    _remeasure(api, session, 186, 114, 10)
    state = _state(api, session)
    assert "hypertensive-urgency" in state["pre_dose_problem"]
    assert state["pre_dose_overridden"] is False
    refused = post(api, "nurse_a", session, "dose/start", DOSE)
    assert refused.status_code == 409, refused.text
    assert "covers 146/92" in refused.json()["detail"]
    assert post(api, "prescriber", session, "pre-dose/override", {
        "reason": "spoke with cardiology; proceed with monitoring"}).status_code == 200
    assert post(api, "nurse_a", session, "dose/start", DOSE).status_code == 200


def test_an_override_covers_a_pressure_no_higher_than_the_one_judged(
        api, world, db: Session) -> None:
    session = _ready_with_baseline(api, world, db, 146, 92)
    assert post(api, "prescriber", session, "pre-dose/override", REASON).status_code == 200
    _remeasure(api, session, 144, 91, 10)
    assert _state(api, session)["pre_dose_overridden"] is True
    assert post(api, "nurse_a", session, "dose/start", DOSE).status_code == 200


def test_an_override_given_on_a_normal_pressure_does_not_cover_a_high_one_after_it(
        api, world, db: Session) -> None:
    session = _ready_with_baseline(api, world, db, 126, 80)
    assert _state(api, session)["pre_dose_problem"] is None
    assert post(api, "prescriber", session, "pre-dose/override", REASON).status_code == 200
    _remeasure(api, session, 150, 95, 10)
    assert post(api, "nurse_a", session, "dose/start", DOSE).status_code == 409


def test_the_chair_page_says_when_a_reason_no_longer_covers_the_pressure(
        api, web, world, db: Session) -> None:
    session = _ready_with_baseline(api, world, db, 146, 92)
    assert post(api, "prescriber", session, "pre-dose/override", REASON).status_code == 200
    page = web["prescriber"].get(f"/treatment-sessions/{session}").text
    assert 'id="pre-dose-overridden"' in page and "white-coat pattern" in page
    _remeasure(api, session, 158, 96, 10)
    page = web["prescriber"].get(f"/treatment-sessions/{session}").text
    assert 'id="pre-dose-overridden"' not in page
    assert "was for 146/92: this pressure needs a reason of its own" in page
    assert "/pre-dose/override" in page  # the prescriber may record one
