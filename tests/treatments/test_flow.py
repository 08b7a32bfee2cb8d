"""A whole IV treatment session through the API: checks, baseline, dose, events, discharge."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.treatments.models import TreatmentSession
from tests.treatments.test_ingest import open_session


def post(api, who: str, session: str, path: str, body: dict):
    return api[who].post(f"/api/v1/treatment-sessions/{session}/{path}", json=body)


def ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def ready_to_dose(api, world, db: Session) -> str:
    pid = world.patients["p_a1"]
    session = open_session(api, db, pid)
    api["nurse_a"].post(f"/api/v1/patients/{pid}/consents", json={})
    post(api, "nurse_a", session, "checks", {"confirmations": {
        "identity": True, "escort": True, "pregnancy-status": True}})
    post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 126, "diastolic_mmhg": 80, "spo2_pct": 98, "taken_at": ago(20)}]})
    return session


def test_failed_checks_block_dosing_until_fixed(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    session = open_session(api, db, pid)
    results = post(api, "nurse_a", session, "checks", {"confirmations": {
        "identity": True, "escort": False, "pregnancy-status": True}}).json()
    assert results["escort"]["ok"] is False and results["consent"]["ok"] is False
    assert results["no-new-contraindication"]["ok"] and results["signed-evaluation"]["ok"]
    post(api, "nurse_a", session, "vitals", {"readings": [{"systolic_mmhg": 126, "diastolic_mmhg": 80}]})
    blocked = post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"})
    assert blocked.status_code == 409
    assert "Escort or ride home" in blocked.json()["detail"] and "Consent on file" in blocked.json()["detail"]
    api["nurse_a"].post(f"/api/v1/patients/{pid}/consents", json={})
    fixed = post(api, "nurse_a", session, "checks", {"confirmations": {"escort": True}}).json()
    assert all(r["ok"] for r in fixed.values())
    given = post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"})
    assert given.status_code == 200, given.text


def test_a_prescriber_may_override_failed_checks_with_a_reason(api, world, db: Session) -> None:
    session = open_session(api, db, world.patients["p_a1"])
    post(api, "nurse_a", session, "vitals", {"readings": [{"systolic_mmhg": 126, "diastolic_mmhg": 80}]})
    assert post(api, "nurse_a", session, "checks/override", {"reason": "x" * 5}).status_code == 403
    assert post(api, "prescriber", session, "checks/override", {"reason": ""}).status_code == 422
    assert post(api, "prescriber", session, "checks/override",
                {"reason": "consent signed on paper, scanning later"}).status_code == 200
    given = post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"})
    assert given.status_code == 200
    event = db.execute(select(AuditEvent).where(AuditEvent.action == "override")).scalar_one()
    assert "consent signed on paper" in event.detail


def test_high_baseline_blocks_until_re_measured(api, world, db: Session) -> None:
    session = ready_to_dose(api, world, db)
    post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 152, "diastolic_mmhg": 94, "taken_at": ago(10)}]})
    dose = {"dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"}
    blocked = post(api, "nurse_a", session, "dose/start", dose)
    assert blocked.status_code == 409 and "152/94 is above 140/90" in blocked.json()["detail"]
    post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 132, "diastolic_mmhg": 84, "taken_at": ago(5)}]})
    assert post(api, "nurse_a", session, "dose/start", dose).status_code == 200


def test_dose_checks(api, world, db: Session) -> None:
    session = ready_to_dose(api, world, db)
    not_prescriber = post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K1", "ordered_by": "nurse_a"})
    assert not_prescriber.status_code == 422
    assert not_prescriber.json()["errors"][0]["field"] == "ordered_by"
    too_much = post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 100, "lot_number": "K1", "ordered_by": "prescriber"})
    assert too_much.status_code == 422
    assert "100 mg is 1.429 mg/kg" in too_much.json()["errors"][0]["message"]
    future = post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K1", "ordered_by": "prescriber", "started_at": ago(-60)})
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "started_at"
    assert "in the future" in future.json()["errors"][0]["message"]
    ok = post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K1", "ordered_by": "prescriber", "started_at": ago(2)})
    assert ok.status_code == 200
    again = post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K1", "ordered_by": "prescriber"})
    assert again.status_code == 409


def test_events_discharge_and_the_closed_record(api, world, db: Session) -> None:
    session = ready_to_dose(api, world, db)
    post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K1", "ordered_by": "prescriber", "started_at": ago(15)})
    rise = post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 172, "diastolic_mmhg": 96, "taken_at": ago(10)}]}).json()
    assert [a["kind"] for a in rise["alarms"]] == ["systolic-rise"]
    assert post(api, "nurse_a", session, "dose/end", {"ended_at": ago(5)}).status_code == 200
    for body, status in [({"kind": "moass", "value": 4}, 201), ({"kind": "cadss", "value": 12}, 201),
                         ({"kind": "side-effect", "code": "nausea"}, 201),
                         ({"kind": "intervention", "code": "antiemetic-given"}, 201),
                         ({"kind": "moass", "value": 7}, 422), ({"kind": "moass", "value": 4.5}, 422),
                         ({"kind": "side-effect", "code": "sneezing"}, 422),
                         ({"kind": "mood", "value": 1}, 422)]:
        assert post(api, "nurse_a", session, "events", body).status_code == status, body
    refused = post(api, "nurse_a", session, "discharge",
                   {"escort_present": True, "driving_warning_given": False})
    assert refused.status_code == 422
    fields = [e["field"] for e in refused.json()["errors"]]
    assert fields == ["observation-time", "vitals-after-dosing", "moass-alert", "driving-warning"]
    # Time passes: the observation period is over, vitals settle, the patient is alert.
    row = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session))).scalar_one()
    row.dose_end = datetime.now(UTC) - timedelta(minutes=70)
    row.dose_start = datetime.now(UTC) - timedelta(minutes=110)
    db.flush()
    post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 130, "diastolic_mmhg": 82, "spo2_pct": 98, "taken_at": ago(3)}]})
    post(api, "nurse_a", session, "events", {"kind": "moass", "value": 5})
    allowed = post(api, "nurse_a", session, "discharge",
                   {"escort_present": True, "driving_warning_given": True})
    assert allowed.status_code == 200 and allowed.json()["status"] == "discharged"
    assert post(api, "nurse_a", session, "events", {"kind": "moass", "value": 5}).status_code == 409
    assert post(api, "nurse_a", session, "vitals", {"readings": [{"spo2_pct": 97}]}).status_code == 409
    assert post(api, "nurse_a", session, "addenda",
                {"text": "lot number was K1-A, not K1"}).status_code == 201


def test_prescriber_discharge_override(api, world, db: Session) -> None:
    session = ready_to_dose(api, world, db)
    post(api, "nurse_a", session, "dose/start", {
        "dose_mg": 35, "lot_number": "K1", "ordered_by": "prescriber", "started_at": ago(15)})
    post(api, "nurse_a", session, "dose/end", {"ended_at": ago(5)})
    body = {"escort_present": True, "driving_warning_given": True,
            "reason": "transferred to the emergency department by ambulance"}
    assert post(api, "nurse_a", session, "discharge/override", body).status_code == 403
    done = post(api, "prescriber", session, "discharge/override", body)
    assert done.status_code == 200 and done.json()["status"] == "discharged"
    detail = db.execute(select(AuditEvent.detail).where(AuditEvent.action == "discharge")).scalar_one()
    assert "ambulance" in detail and "observation-time" in detail


def test_a_caution_found_since_signing_blocks_dosing_until_a_prescriber_weighs_it(
        api, world, db: Session) -> None:
    """A positive hCG charted at check-in is the pregnancy caution (protocol-facts §1: not
    recommended in pregnancy), which the prescriber who signed the course never weighed; only a
    contraindication was looked for, so the session dosed. It now blocks until a prescriber
    records a reason, and a caution the signed evaluation weighed does not."""
    from ketaclinic.evaluations.models import Evaluation

    pid = world.patients["p_a1"]
    session = ready_to_dose(api, world, db)
    assert api["nurse_a"].post(f"/api/v1/patients/{pid}/status-observations", json={
        "code": "2106-3", "answer": "yes"}).status_code == 201
    results = post(api, "nurse_a", session, "checks", {"confirmations": {}}).json()
    assert results["no-new-contraindication"]["ok"]
    assert not results["no-new-caution"]["ok"]
    assert results["no-new-caution"]["detail"].startswith("Pregnancy (hCG test): ketamine is not recommended")
    dose = {"dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"}
    blocked = post(api, "nurse_a", session, "dose/start", dose)
    assert blocked.status_code == 409 and "did not weigh" in blocked.json()["detail"]
    evaluation = db.execute(select(Evaluation).where(Evaluation.patient_pk == db.execute(
        select(TreatmentSession.patient_pk).where(TreatmentSession.id == uuid.UUID(session))
    ).scalar_one(), Evaluation.status == "signed")).scalars().first()
    assert evaluation is not None
    evaluation.findings = [*evaluation.findings, {"rule": "pregnancy", "severity": "caution"}]
    db.flush()
    weighed = post(api, "nurse_a", session, "checks", {"confirmations": {}}).json()
    assert weighed["no-new-caution"]["ok"], weighed["no-new-caution"]
    assert post(api, "nurse_a", session, "dose/start", dose).status_code == 200


def test_a_chart_pressure_above_140_90_since_signing_is_the_pre_dose_check_s_not_a_new_caution(
        api, world, db: Session) -> None:
    """protocol-facts §1's resting BP above 140/90 is a caution at screening; before a dose,
    today's BP is the session's pre-dose check. A chart reading of 150/95 taken since signing
    (within the 30-day window) failed check-in as a caution no one had weighed, and blocked
    dosing for a patient whose baseline at the chair was 126/80, until a prescriber overrode."""
    pid = world.patients["p_a1"]
    session = ready_to_dose(api, world, db)
    charted = api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={
        "systolic_mmhg": 150, "diastolic_mmhg": 95})  # the newest on the chart
    assert charted.status_code == 201, charted.text
    results = post(api, "nurse_a", session, "checks", {"confirmations": {}}).json()
    assert results["no-new-caution"]["ok"], results["no-new-caution"]
    dose = {"dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"}
    assert post(api, "nurse_a", session, "dose/start", dose).status_code == 200


def test_a_course_s_pressures_are_the_pre_dose_check_s_once_the_chart_s_are_weeks_old(
        api, world, db: Session, clinic_clock) -> None:
    """Five weeks into a course, with no pressure charted since screening (nurses take it at the
    chair, where the pre-dose check reads it), check-in screened the chart again and found
    "no blood pressure recorded in the 30 days", a caution the signed evaluation had not
    weighed, so every session blocked until a prescriber overrode; a pressure of 185/115 on the
    chart likewise failed the contraindication check though today's at the chair was 126/80.
    Today's pressure before a dose is the pre-dose check's, on the same thresholds."""
    from tests.treatments.test_ingest import chair_id, signed_evaluation

    pid = world.patients["p_a1"]
    evaluation_id = signed_evaluation(api, pid)
    clinic_clock.shift(timedelta(days=35))
    api._clients.clear()  # the logins of five weeks ago have expired: log in again
    api["nurse_a"].post(f"/api/v1/patients/{pid}/consents", json={})
    opened = api["nurse_a"].post(f"/api/v1/patients/{pid}/treatment-sessions", json={
        "evaluation_id": evaluation_id, "chair_id": chair_id(db, "A1")})
    assert opened.status_code == 201, opened.text
    session = opened.json()["id"]
    assert api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals",
                               json={"weight_kg": 70}).status_code == 201
    post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 126, "diastolic_mmhg": 80}]})
    results = post(api, "nurse_a", session, "checks", {"confirmations": {
        "identity": True, "escort": True, "pregnancy-status": True}}).json()
    assert all(r["ok"] for r in results.values()), {k: r for k, r in results.items() if not r["ok"]}
    charted = api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={
        "systolic_mmhg": 185, "diastolic_mmhg": 115})
    assert charted.status_code == 201, charted.text
    results = post(api, "nurse_a", session, "checks", {"confirmations": {}}).json()
    assert results["no-new-contraindication"]["ok"], results["no-new-contraindication"]
    dose = {"dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"}
    assert post(api, "nurse_a", session, "dose/start", dose).status_code == 200


def test_the_rules_check_in_leaves_to_the_pre_dose_check_are_its_own_with_a_source() -> None:
    from ketaclinic.knowledge.checkin import checks, left_out
    from ketaclinic.knowledge.screening import rules

    severity = {r.id: r.severity for r in rules()}
    assert left_out("no-new-contraindication") == {"blood-pressure-hazard"}
    assert left_out("no-new-caution") == {"blood-pressure-elevated", "missing-blood-pressure",
                                          "older-adult"}
    assert {severity[r] for r in left_out("no-new-contraindication")} == {"contraindication"}
    assert {severity[r] for r in left_out("no-new-caution")} == {"caution"}
    for check in checks():
        assert bool(check.leaves_out) == ("monitoring.toml [pre_dose]" in check.leaves_out_source)
    # the pre-dose check judges today's pressure on the rule set's thresholds, as screening does
    # (tests/treatments/test_clinic_pressure_limits.py holds a clinic's override to both)


def test_a_patient_recorded_as_deceased_fails_every_check_from_the_record(
        api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    session = ready_to_dose(api, world, db)
    assert api["nurse_a"].patch(f"/api/v1/patients/{pid}",
                                json={"deceased": True}).status_code == 200
    results = post(api, "nurse_a", session, "checks", {"confirmations": {}}).json()
    automatic = ("signed-evaluation", "consent", "no-new-contraindication", "no-new-caution",
                 "current-weight")
    assert all(not results[c]["ok"] and "deceased" in results[c]["detail"] for c in automatic)
