"""A rise in blood pressure is a rise over the session's baseline, the last blood pressure taken
before dosing: only a reading taken after the baseline can rise over it. A high first reading
re-measured after rest (as the pre-dose check asks) is not a rise over the re-measurement, however
the two arrive: in one batch, in two, late, or attached from the chair's unmatched readings."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.treatments.models import SessionAlarm
from tests.treatments.test_ingest import open_session, start_dosing_now
from tests.treatments.test_unmatched_offer import _sent


def _reading(minutes_ago: float, systolic: int, diastolic: int) -> dict[str, object]:
    return {"systolic_mmhg": systolic, "diastolic_mmhg": diastolic,
            "taken_at": (clock.now() - timedelta(minutes=minutes_ago)).isoformat()}


def _kinds(response) -> list[str]:
    assert response.status_code == 201, response.text
    return sorted(a["kind"] for a in response.json()["alarms"])


def test_a_high_reading_re_measured_in_the_same_batch_is_not_a_rise_over_the_re_measurement(
        api, world, db: Session) -> None:
    session = open_session(api, db, world.patients["p_a1"])
    url = f"/api/v1/treatment-sessions/{session}/vitals"
    # 175/100 on arrival, 130/80 after rest: both under the absolute limits; the later one is
    # the baseline, and the earlier one is 45 above it, but came first.
    both = api["nurse_a"].post(url, json={"readings": [_reading(10, 175, 100),
                                                       _reading(5, 130, 80)]})
    assert _kinds(both) == [], "a reading before the baseline is not a rise over it"
    # So no rise alarm stands open to hide the one a real rise after dosing raises.
    start_dosing_now(db, session)
    risen = api["nurse_a"].post(url, json={"readings": [_reading(1, 172, 84)]})
    assert _kinds(risen) == ["systolic-rise"]


def test_the_same_readings_one_batch_at_a_time_or_late_raise_the_same_alarms(
        api, world, db: Session) -> None:
    session = open_session(api, db, world.patients["p_a1"])
    url = f"/api/v1/treatment-sessions/{session}/vitals"
    assert _kinds(api["nurse_a"].post(url, json={"readings": [_reading(10, 175, 100)]})) == []
    assert _kinds(api["nurse_a"].post(url, json={"readings": [_reading(6, 130, 80)]})) == []
    start_dosing_now(db, session)
    # A gateway's backlog from before dosing, earlier than the baseline, arrives late.
    late = api["nurse_a"].post(url, json={"readings": [_reading(8, 176, 101)]})
    assert _kinds(late) == []
    # A reading after dosing still rises over the baseline (130/80).
    assert _kinds(api["nurse_a"].post(url, json={"readings": [_reading(1, 171, 106)]})) == [
        "diastolic-rise", "systolic-rise"]


def test_attached_unmatched_readings_rise_only_over_an_earlier_baseline(
        api, world, db: Session) -> None:
    now = clock.now().replace(microsecond=0)  # monitors send whole seconds
    # The monitor at A2 took 175 as the patient sat down and 130 after rest, before the session
    # was opened.
    _sent(db, "ARRIVAL", now - timedelta(minutes=20), systolic=175)
    _sent(db, "RESTED", now - timedelta(minutes=15), systolic=130)
    session = open_session(api, db, world.patients["p_a1"], chair="A2")
    attached = api["nurse_a"].post(f"/api/v1/treatment-sessions/{session}/attach-unmatched")
    assert attached.status_code == 200 and attached.json()["stored"] == 2
    kinds = set(db.execute(select(SessionAlarm.kind)).scalars())
    assert "systolic-rise" not in kinds, kinds
