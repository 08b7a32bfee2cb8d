"""Discharge asks for the patient alert (MOAA/S 5) now, after dosing: a score taken before the
dose, or while it ran, says nothing about how the patient has come out of it."""

from datetime import timedelta

from sqlalchemy.orm import Session

from tests.treatments.test_flow import ago, post
from tests.treatments.test_sparse_pressures import _criteria, _dosed_and_observed


def _settled() -> list[dict[str, object]]:
    """Vital signs within every limit, taken after dosing ended (timed when asked for, on the
    clock the test runs at)."""
    return [{"systolic_mmhg": 128, "diastolic_mmhg": 80, "heart_rate_bpm": 76, "spo2_pct": 98,
             "respiratory_rate_per_min": 14, "taken_at": ago(10)},
            {"systolic_mmhg": 124, "diastolic_mmhg": 78, "heart_rate_bpm": 74, "spo2_pct": 98,
             "respiratory_rate_per_min": 14, "taken_at": ago(2)}]


LEAVING = {"escort_present": True, "driving_warning_given": True}


def _moass(api, session: str, value: int, at: str | None = None) -> None:
    body: dict[str, object] = {"kind": "moass", "value": value}
    if at is not None:
        body["at"] = at
    assert post(api, "nurse_a", session, "events", body).status_code == 201


def test_an_alert_score_from_before_dosing_ended_does_not_discharge(
        api, world, db: Session) -> None:
    """The nurse scored MOAA/S 5 at the baseline and again as the infusion ran; nobody scored
    the patient after it. Discharge read the session's latest score, 5, as 'alert' and let the
    patient go unassessed."""
    session, row = _dosed_and_observed(api, world, db, alert=False)
    _moass(api, session, 5, at=(row.dose_start - timedelta(minutes=10)).isoformat())
    _moass(api, session, 5, at=(row.dose_end - timedelta(minutes=20)).isoformat())
    assert post(api, "nurse_a", session, "vitals", {"readings": _settled()}).status_code == 201
    state = api["nurse_a"].get(f"/api/v1/treatment-sessions/{session}").json()
    [sedation] = [m for m in state["discharge_missing"] if m["criterion"] == "moass-alert"]
    assert "none recorded since dosing ended" in sedation["message"], sedation
    refused = post(api, "nurse_a", session, "discharge", LEAVING)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["moass-alert"]
    # Scored alert now, after dosing: the patient may go.
    _moass(api, session, 5)
    assert _criteria(api, session) == []
    assert post(api, "nurse_a", session, "discharge", LEAVING).status_code == 200


def test_a_drowsy_score_after_dosing_keeps_the_patient_whatever_came_before(
        api, world, db: Session) -> None:
    """A score of 3 after dosing, then the baseline's 5 charted late at its own time (before the
    dose): the score that counts is the newest since dosing ended."""
    session, row = _dosed_and_observed(api, world, db, alert=False)
    assert post(api, "nurse_a", session, "vitals", {"readings": _settled()}).status_code == 201
    _moass(api, session, 3, at=ago(3))
    _moass(api, session, 5, at=(row.dose_start - timedelta(minutes=10)).isoformat())
    assert _criteria(api, session) == ["moass-alert"]
