"""The alarm limits are clinic defaults (protocol-facts §5: no psychiatric guideline sets them), so
a clinic's medical director may change them as any other rule-set parameter, and the chair's
alarms, discharge's "vitals within limits" and the REMS form's respiratory depression follow."""

from sqlalchemy.orm import Session

from tests.treatments.test_clinic_pressure_limits import _override
from tests.treatments.test_flow import ago, post
from tests.treatments.test_ingest import open_session
from tests.treatments.test_rems import esketamine_session
from tests.treatments.test_sparse_pressures import _criteria, _dosed_and_observed


def _alarms(api, session: str, reading: dict) -> list[dict]:
    stored = post(api, "nurse_a", session, "vitals", {"readings": [reading]})
    assert stored.status_code == 201, stored.text
    return stored.json()["alarms"]


def test_a_clinic_s_alarm_limits_raise_the_chair_s_alarms(api, world, db: Session) -> None:
    """A clinic that alarms above 170 systolic and below 92 % saturation: its overrides were
    stored and listed, but the chair alarmed on the shipped 180 and 94 %."""
    _override(api, "alarm_systolic_high_mmhg", 170)
    _override(api, "alarm_spo2_low_pct", 92)
    session = open_session(api, db, world.patients["p_a1"])
    [high] = _alarms(api, session, {"systolic_mmhg": 175, "diastolic_mmhg": 90,
                                    "taken_at": ago(3)})
    assert high["kind"] == "systolic-high" and "above 170" in high["message"]
    assert high["source"].startswith("clinic override of")
    assert _alarms(api, session, {"spo2_pct": 93, "taken_at": ago(2)}) == []
    [low] = _alarms(api, session, {"spo2_pct": 91, "taken_at": ago(1)})
    assert low["kind"] == "spo2-low" and "below 92" in low["message"]


def test_discharge_reads_the_clinic_s_alarm_limits(api, world, db: Session) -> None:
    session, _ = _dosed_and_observed(api, world, db)
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 128, "diastolic_mmhg": 80, "heart_rate_bpm": 76, "spo2_pct": 93,
         "respiratory_rate_per_min": 14, "taken_at": ago(2)}]}).status_code == 201
    assert "vitals-within-limits" in _criteria(api, session)
    _override(api, "alarm_spo2_low_pct", 92)
    assert "vitals-within-limits" not in _criteria(api, session)


def test_the_rems_form_reads_respiratory_depression_on_the_clinic_s_limit(
        api, world, db: Session) -> None:
    session = esketamine_session(api, world, db)
    url = f"/api/v1/treatment-sessions/{session}"
    assert api["nurse_a"].post(f"{url}/vitals", json={"readings": [
        {"spo2_pct": 93, "taken_at": ago(30)}]}).status_code == 201
    assert api["nurse_a"].get(f"{url}/rems").json()["respiratory_depression"] is True
    _override(api, "alarm_spo2_low_pct", 92)
    assert api["nurse_a"].get(f"{url}/rems").json()["respiratory_depression"] is False
