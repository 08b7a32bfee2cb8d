"""A monitor sends oximetry every second and a blood pressure every few minutes, so the newest
reading usually holds no blood pressure at all. Discharge reads each vital sign's newest value,
and the schedule of blood pressures runs from the last blood pressure, not the newest reading."""

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import SessionReading, TreatmentSession
from tests.statements import statements_sent
from tests.treatments.test_flow import ago, post, ready_to_dose


def _dosed_and_observed(api, world, db: Session, *, alert: bool = True
                        ) -> tuple[str, TreatmentSession]:
    """A session dosed and past its observation time, the patient (with `alert`) scored alert
    now."""
    session = ready_to_dose(api, world, db)
    post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K1", "ordered_by": "prescriber", "started_at": ago(15)})
    assert post(api, "nurse_a", session, "dose/end", {"ended_at": ago(5)}).status_code == 200
    row = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session))).scalar_one()
    # Time passes: dosing was over 70 minutes ago (its baseline taken before it began).
    row.dose_start, row.dose_end = clock.now() - timedelta(minutes=110), clock.now() - timedelta(
        minutes=70)
    db.execute(update(SessionReading).where(SessionReading.session_pk == row.pk).values(
        taken_at=clock.now() - timedelta(minutes=115)))
    db.flush()
    if alert:
        assert post(api, "nurse_a", session, "events",
                    {"kind": "moass", "value": 5}).status_code == 201
    return session, row


def _oximetry(minutes_ago: float, seconds: int) -> list[dict[str, object]]:
    start = clock.now() - timedelta(minutes=minutes_ago)
    return [{"spo2_pct": 97, "heart_rate_bpm": 84,
             "taken_at": (start + timedelta(seconds=s)).isoformat()} for s in range(seconds)]


def _criteria(api, session: str) -> list[str]:
    state = api["nurse_a"].get(f"/api/v1/treatment-sessions/{session}",
                               params={"readings_limit": 20})
    assert state.status_code == 200, state.text
    # (the escort and the driving warning are confirmed at discharge itself)
    return [m["criterion"] for m in state.json()["discharge_missing"]
            if m["criterion"] not in ("escort", "driving-warning")]


def test_a_high_pressure_followed_by_oximetry_alone_still_keeps_the_patient(
        api, world, db: Session) -> None:
    session, _ = _dosed_and_observed(api, world, db)
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 150, "diastolic_mmhg": 92, "taken_at": ago(20)},
        {"systolic_mmhg": 186, "diastolic_mmhg": 112, "taken_at": ago(12)}]}).status_code == 201
    # Ten minutes of oximetry since: more readings than the page or the API's limit shows.
    assert post(api, "nurse_a", session, "vitals",
                {"readings": _oximetry(10, 600)}).status_code == 201
    assert _criteria(api, session) == ["vitals-within-limits", "bp-falling-or-normal"]
    refused = post(api, "nurse_a", session, "discharge",
                   {"escort_present": True, "driving_warning_given": True})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["vitals-within-limits",
                                                               "bp-falling-or-normal"]
    # The pressure re-measured, settled: the patient may go.
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 132, "diastolic_mmhg": 84, "taken_at": ago(1)}]}).status_code == 201
    assert post(api, "nurse_a", session, "vitals",
                {"readings": _oximetry(0.9, 30)}).status_code == 201
    assert _criteria(api, session) == []
    allowed = post(api, "nurse_a", session, "discharge",
                   {"escort_present": True, "driving_warning_given": True})
    assert allowed.status_code == 200, allowed.text


def test_oximetry_alone_after_dosing_asks_for_a_blood_pressure(api, world, db: Session) -> None:
    session, _ = _dosed_and_observed(api, world, db)
    assert post(api, "nurse_a", session, "vitals",
                {"readings": _oximetry(10, 120)}).status_code == 201
    assert _criteria(api, session) == ["bp-after-dosing"]


def test_the_readings_discharge_reads_are_each_sign_s_newest_two_since_dosing_ended(
        api, world, db: Session) -> None:
    session, row = _dosed_and_observed(api, world, db)
    before_end = [{"systolic_mmhg": 190, "diastolic_mmhg": 100, "respiratory_rate_per_min": 30,
                   "taken_at": ago(80)}]
    pressures = [{"systolic_mmhg": s, "diastolic_mmhg": 90, "taken_at": ago(m)}
                 for s, m in ((160, 40), (150, 30), (140, 20))]
    breaths = [{"respiratory_rate_per_min": 16, "spo2_pct": 96, "taken_at": ago(25)}]
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        *before_end, *pressures, *breaths, *_oximetry(10, 200)]}).status_code == 201
    read = [r for r in treatments.newest_of_each_sign(db, row) if r.taken >= row.dose_end]
    everything = treatments.readings_of(db=db, session_pk=row.pk)
    after = [r for r in everything if r.taken >= row.dose_end]
    assert [r.systolic_mmhg for r in read if r.systolic_mmhg] == [150, 140]
    assert [r.respiratory_rate_per_min for r in read if r.respiratory_rate_per_min] == [16]
    # the breaths' reading (kept for its rate), then the newest two of the 200 oximetry readings
    assert [r.spo2_pct for r in read if r.spo2_pct] == [96, 97, 97]
    assert read[-2:] == after[-2:] and len(read) == 5


def test_oximetry_every_second_does_not_meet_the_blood_pressure_schedule(
        api, web, world, db: Session) -> None:
    session = ready_to_dose(api, world, db)  # its baseline pressure taken 20 minutes ago
    post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K1", "ordered_by": "prescriber", "started_at": ago(15)})
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 128, "diastolic_mmhg": 82, "taken_at": ago(14)}]}).status_code == 201
    assert post(api, "nurse_a", session, "vitals",
                {"readings": _oximetry(13, 600)}).status_code == 201
    due = api["nurse_a"].get(f"/api/v1/treatment-sessions/{session}",
                             params={"readings_limit": 20}).json()["next_reading_due"]
    # An infusion's pressures are due every 10 minutes: 4 minutes ago, from the one 14 minutes ago.
    assert due["every_min"] == 10 and due["overdue"] is True
    live = web["nurse_a"].get(f"/treatment-sessions/{session}/live")
    assert "Next blood pressure due" in live.text and "— overdue" in live.text
    # The newest rows are oximetry; the last pressure is shown above them all the same.
    latest = live.text[live.text.index('id="latest-signs"'):live.text.index('id="readings"')]
    assert "BP <strong>128/82</strong>" in latest and "SpO2 <strong>97 %</strong>" in latest
    assert "RR <span class=\"muted\">none</span>" in latest
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 126, "diastolic_mmhg": 80, "taken_at": ago(0)}]}).status_code == 201
    due = api["nurse_a"].get(f"/api/v1/treatment-sessions/{session}").json()["next_reading_due"]
    assert due["overdue"] is False


def test_a_systolic_without_a_diastolic_is_shown_with_a_dash_not_a_0(api, web, world,
                                                                     db: Session) -> None:
    session = ready_to_dose(api, world, db)
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 186, "taken_at": ago(1)}]}).status_code == 201
    live = web["nurse_a"].get(f"/treatment-sessions/{session}/live").text
    assert "186/\u2013" in live and "186/0" not in live


def test_a_heart_rate_taken_apart_from_the_baseline_pressure_is_the_baseline_s(
        api, world, db: Session) -> None:
    """The baseline pressure was taken alone and the heart rate, 110, a minute later, before
    dosing. After dosing 118 is within 20 % of it: the heart rate is settled. The baseline read
    as the pressure's reading had no heart rate, and 118 had to fall below 100."""
    session, row = _dosed_and_observed(api, world, db)
    assert row.dose_start is not None
    before_dosing = (row.dose_start - timedelta(minutes=2)).isoformat()
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"heart_rate_bpm": 110, "taken_at": before_dosing}]}).status_code == 201
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 128, "diastolic_mmhg": 80, "heart_rate_bpm": 118, "spo2_pct": 97,
         "taken_at": ago(2)}]}).status_code == 201
    assert _criteria(api, session) == []
    # A heart rate neither below 100 nor within 20 % of 110 (nor under its alarm limit) keeps
    # the patient.
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"heart_rate_bpm": 135, "taken_at": ago(1)}]}).status_code == 201
    assert _criteria(api, session) == ["vitals-within-limits", "heart-rate-settled"]


def test_the_baseline_and_its_heart_rate_are_read_in_one_statement(api, world, db: Session
                                                                    ) -> None:
    """The chair's live part reads the baseline at every render: a pressure taken alone gets its
    heart rate from the last one before dosing in the same statement, not a second one."""
    session, row = _dosed_and_observed(api, world, db)
    assert row.dose_start is not None
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {"heart_rate_bpm": 104, "taken_at": (row.dose_start - timedelta(minutes=3)).isoformat()},
        {"systolic_mmhg": 126, "diastolic_mmhg": 78,
         "taken_at": (row.dose_start - timedelta(minutes=2)).isoformat()}]}).status_code == 201
    with statements_sent(db.connection()) as statements:
        baseline = treatments.baseline_of(db, row)
    assert baseline is not None
    assert (baseline.systolic_mmhg, baseline.heart_rate_bpm) == (126, 104)
    assert len(statements) == 1
