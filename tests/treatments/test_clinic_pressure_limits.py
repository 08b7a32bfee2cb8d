"""A clinic's blood-pressure limits (the rule set's caution and hazard values, which a medical
director may override) hold at the chair as at screening: the pre-dose check, the discharge
pressure "normal or falling", and the REMS form's "vitals acceptable before dosing" read the same
numbers screening and check-in do. Check-in leaves today's pressure to the pre-dose check on the
premise that both judge it alike."""

from sqlalchemy.orm import Session

from tests.treatments.test_flow import ago, post
from tests.treatments.test_ingest import open_session
from tests.treatments.test_sparse_pressures import _criteria, _dosed_and_observed


def _override(api, parameter: str, value: float | None) -> None:
    made = api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": parameter, "value": value, "reason": "medical director protocol 2026-12"})
    assert made.status_code == 201, made.text


def refused_override(api, parameter: str, value: float) -> dict:
    """The one problem a refused override names; it must be the value's."""
    refused = api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": parameter, "value": value, "reason": "medical director protocol 2026-12"})
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["errors"]
    assert problem["field"] == "value", problem
    return problem


def _state(api, session: str) -> dict:
    state = api["nurse_a"].get(f"/api/v1/treatment-sessions/{session}")
    assert state.status_code == 200, state.text
    return state.json()


def _ready_with_baseline(api, world, db: Session, systolic: int, diastolic: int) -> str:
    pid = world.patients["p_a1"]
    session = open_session(api, db, pid)
    api["nurse_a"].post(f"/api/v1/patients/{pid}/consents", json={})
    post(api, "nurse_a", session, "checks", {"confirmations": {
        "identity": True, "escort": True, "pregnancy-status": True}})
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": systolic, "diastolic_mmhg": diastolic, "spo2_pct": 98,
         "taken_at": ago(20)}]}).status_code == 201
    return session


DOSE = {"dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"}


def test_a_clinic_s_raised_caution_holds_at_the_chair(api, world, db: Session) -> None:
    """A clinic whose protocol cautions above 150/95 screened a patient at 146/92 eligible, but
    the chair held every dose at that pressure until a prescriber overrode, session after
    session: the pre-dose check read 140/90 from its own table."""
    _override(api, "caution_systolic_mmhg", 150)
    _override(api, "caution_diastolic_mmhg", 95)
    session = _ready_with_baseline(api, world, db, 146, 92)
    assert _state(api, session)["pre_dose_problem"] is None
    assert post(api, "nurse_a", session, "dose/start", DOSE).status_code == 200


def test_a_clinic_s_lowered_hazard_is_the_chair_s_hazard_with_its_source(
        api, world, db: Session) -> None:
    """A clinic that treats 170/105 as the hypertensive-urgency range: check-in leaves that range
    to the pre-dose check, which said 172/100 was merely "above 140/90", not "do not dose"."""
    _override(api, "hazard_systolic_mmhg", 170)
    _override(api, "hazard_diastolic_mmhg", 105)
    session = _ready_with_baseline(api, world, db, 172, 100)
    problem = _state(api, session)["pre_dose_problem"]
    assert problem and "at or above 170/105, the hypertensive-urgency range" in problem, problem
    assert "clinic override" in problem and "do not dose" in problem
    blocked = post(api, "nurse_a", session, "dose/start", DOSE)
    assert blocked.status_code == 409 and "170/105" in blocked.json()["detail"]


def test_the_shipped_limits_still_hold_without_an_override(api, world, db: Session) -> None:
    session = _ready_with_baseline(api, world, db, 146, 92)
    problem = _state(api, session)["pre_dose_problem"]
    assert problem and "146/92 is above 140/90" in problem and "SPRAVATO-PI" in problem
    assert post(api, "nurse_a", session, "dose/start", DOSE).status_code == 409


def test_discharge_reads_normal_as_the_clinic_s_limit(api, world, db: Session) -> None:
    """After dosing, each pressure must be normal or falling; "normal" is the caution limit."""
    _override(api, "caution_systolic_mmhg", 150)
    _override(api, "caution_diastolic_mmhg", 95)
    session, _ = _dosed_and_observed(api, world, db)
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 138, "diastolic_mmhg": 86, "taken_at": ago(10)},
        {"systolic_mmhg": 146, "diastolic_mmhg": 92, "heart_rate_bpm": 80,
         "spo2_pct": 98, "respiratory_rate_per_min": 14, "taken_at": ago(2)}]}).status_code == 201
    assert "bp-falling-or-normal" not in _criteria(api, session)
    _override(api, "caution_systolic_mmhg", None)
    _override(api, "caution_diastolic_mmhg", None)
    assert "bp-falling-or-normal" in _criteria(api, session)
