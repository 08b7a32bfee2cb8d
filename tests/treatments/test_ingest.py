"""Treatment sessions: check-in, vital signs from the API and the monitor, alarms."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.clinics.models import Chair
from ketaclinic.integrations import monitor_feed
from ketaclinic.kernel.actor import Actor
from ketaclinic.treatments import schemas
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import (
    MonitorMessage,
    SessionAlarm,
    SessionReading,
    TreatmentSession,
)
from tests.integrations.test_pcd01 import PCD01
from tests.statements import statements_sent


def chair_id(db: Session, name: str) -> str:
    return str(db.execute(select(Chair.id).where(Chair.name == name)).scalar_one())


def signed_evaluation(api, pid: str) -> str:
    evaluation = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations",
                                     json={"route": "iv"}).json()
    signed = api["prescriber"].post(f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign",
                                    json={"decision": "start"})
    assert signed.status_code == 200, signed.text
    return evaluation["id"]


def open_session(api, db: Session, pid: str, chair: str = "A1") -> str:
    response = api["nurse_a"].post(f"/api/v1/patients/{pid}/treatment-sessions", json={
        "evaluation_id": signed_evaluation(api, pid), "chair_id": chair_id(db, chair)})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def start_dosing_now(db: Session, session_id: str) -> None:
    """Mark dosing as started, as the dose step would, so that later readings rise from baseline."""
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    session.dose_start = datetime.now(UTC) - timedelta(minutes=5)
    db.flush()


def count(db: Session, model: type) -> int:
    return db.execute(select(func.count()).select_from(model)).scalar_one()


def test_check_in_needs_a_course_signed_to_start(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    unsigned = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations", json={"route": "iv"})
    response = api["nurse_a"].post(f"/api/v1/patients/{pid}/treatment-sessions", json={
        "evaluation_id": unsigned.json()["id"], "chair_id": chair_id(db, "A1")})
    assert response.status_code == 409 and "not signed to start" in response.json()["detail"]
    open_session(api, db, pid)
    second = api["nurse_a"].post(f"/api/v1/patients/{world.patients['p_a2']}/treatment-sessions",
                                 json={"evaluation_id": signed_evaluation(api, world.patients["p_a2"]),
                                       "chair_id": chair_id(db, "A1")})
    assert second.status_code == 409 and "already has an open session" in second.json()["detail"]
    other_site = api["nurse_a"].post(f"/api/v1/patients/{world.patients['p_a2']}/treatment-sessions",
                                     json={"evaluation_id": signed_evaluation(api, world.patients["p_a2"]),
                                           "chair_id": chair_id(db, "B1")})
    assert other_site.status_code == 422


def test_batch_readings_raise_alarms_once(api, world, db: Session) -> None:
    session = open_session(api, db, world.patients["p_a1"])
    url = f"/api/v1/treatment-sessions/{session}/vitals"
    earlier = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    baseline = api["nurse_a"].post(url, json={"readings": [
        {"systolic_mmhg": 124, "diastolic_mmhg": 78, "spo2_pct": 98, "taken_at": earlier}]})
    assert baseline.status_code == 201 and baseline.json() == {"stored": 1, "alarms": []}
    start_dosing_now(db, session)
    high = api["nurse_a"].post(url, json={"readings": [
        {"systolic_mmhg": 186, "diastolic_mmhg": 96}, {"systolic_mmhg": 190, "spo2_pct": 92}]})
    kinds = sorted(a["kind"] for a in high.json()["alarms"])
    assert kinds == ["spo2-low", "systolic-high", "systolic-rise"]
    again = api["nurse_a"].post(url, json={"readings": [{"systolic_mmhg": 195}]})
    assert again.json()["alarms"] == [], "an open alarm for the same condition is not stacked"


def test_impossible_or_future_readings_store_nothing(api, world, db: Session) -> None:
    session = open_session(api, db, world.patients["p_a1"])
    url = f"/api/v1/treatment-sessions/{session}/vitals"
    before = count(db, SessionReading)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    recent = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    days_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    for body, field, accepted in [
        ({"readings": [{"heart_rate_bpm": 72, "taken_at": recent},
                       {"heart_rate_bpm": 70, "taken_at": days_ago}]}, "readings[1].taken_at",
         "to now"),
        ({"readings": [{"spo2_pct": 98}, {"spo2_pct": 130}]}, "readings[1].spo2_pct", "50 to 100 %"),
        ({"readings": [{"systolic_mmhg": 20}]}, "systolic_mmhg", "40 to 300 mmHg"),
        ({"readings": [{"heart_rate_bpm": 70, "taken_at": future}]}, "taken_at", "now or earlier"),
    ]:
        response = api["nurse_a"].post(url, json=body)
        assert response.status_code == 422, response.text
        error = response.json()["errors"][0]
        assert (error["field"], error["accepted"][-len(accepted):]) == (field, accepted)
    assert count(db, SessionReading) == before


def test_monitor_message_lands_on_the_chair_session(api, world, db: Session) -> None:
    session = open_session(api, db, world.patients["p_a1"])
    earlier = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    api["nurse_a"].post(f"/api/v1/treatment-sessions/{session}/vitals", json={
        "readings": [{"systolic_mmhg": 122, "diastolic_mmhg": 76, "taken_at": earlier}]})
    start_dosing_now(db, session)
    moment = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y%m%d%H%M%S+0000")
    text = PCD01.replace("PV1||O|HPC^Chair 2^1", "PV1||O|A^A1^1").replace(
        "20261126140500-0500", moment).replace("20261126140000-0500", moment)
    assert monitor_feed.ingest(db=db, raw=text, peer="10.0.0.5:4000") == (
        "AA", "", "MSG0001")
    rows = db.execute(select(SessionReading).where(SessionReading.source == "monitor")).scalars().all()
    assert {r.systolic_mmhg for r in rows} >= {186.0} and all(r.session_pk for r in rows)
    kinds = set(db.execute(select(SessionAlarm.kind)).scalars())
    assert {"systolic-high", "systolic-rise"} <= kinds
    inbox = db.execute(select(MonitorMessage)).scalar_one()
    assert (inbox.status, inbox.ack_code, inbox.control_id) == ("accepted", "AA", "MSG0001")
    again = monitor_feed.ingest(db=db, raw=text, peer="10.0.0.5:4000")
    assert again[0] == "AA"
    # The gateway lost the ACK, reconnected (a new port) and sent the message again.
    resent = monitor_feed.ingest(db=db, raw=text, peer="10.0.0.5:4711")
    assert resent[0] == "AA"
    assert db.execute(select(func.count()).select_from(SessionReading).where(
        SessionReading.source == "monitor")).scalar_one() == len(rows), "retransmission not stored twice"
    # A gateway that restarted its counter reuses the id for a new message: that one is kept.
    later = (datetime.now(UTC) - timedelta(seconds=20)).strftime("%Y%m%d%H%M%S+0000")
    assert monitor_feed.ingest(db=db, raw=text.replace(moment, later), peer="10.0.0.5:5000")[0] \
        == "AA"
    assert db.execute(select(func.count()).select_from(SessionReading).where(
        SessionReading.source == "monitor")).scalar_one() > len(rows)


def _millis(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def test_readings_and_monitor_messages_are_stored_under_ids_that_begin_with_their_time(
        api, world, db: Session) -> None:
    session = open_session(api, db, world.patients["p_a1"])
    first = _millis(clock.now())
    posted = api["nurse_a"].post(f"/api/v1/treatment-sessions/{session}/vitals", json={
        "readings": [{"systolic_mmhg": 120 + n, "taken_at": (
            clock.now() - timedelta(minutes=5 - n)).isoformat()} for n in range(3)]})
    assert posted.status_code == 201, posted.text
    moment = (clock.now() - timedelta(minutes=1)).strftime("%Y%m%d%H%M%S+0000")
    text = PCD01.replace("PV1||O|HPC^Chair 2^1", "PV1||O|A^A1^1").replace(
        "20261126140500-0500", moment).replace("20261126140000-0500", moment)
    assert monitor_feed.ingest(db=db, raw=text, peer="gw")[0] == "AA"
    last = _millis(clock.now())
    ids = [*db.execute(select(SessionReading.id)).scalars(),
           *db.execute(select(MonitorMessage.id)).scalars()]
    assert len(ids) > 4
    assert all(i.version == 7 and first <= i.int >> 80 <= last for i in ids), ids


def test_monitor_routing_by_device_unmatched_and_rejected(db: Session) -> None:
    chair = db.execute(select(Chair).where(Chair.name == "A2")).scalar_one()
    chair.monitor_device_id = "0123456789ABCDEF"
    db.flush()
    assert monitor_feed.ingest(db=db, raw=PCD01, peer="gw")[0] == "AA"
    unmatched = db.execute(select(MonitorMessage)).scalar_one()
    assert unmatched.status == "unmatched"
    assert db.execute(select(SessionReading.chair_pk).limit(1)).scalar_one() == chair.pk
    lost = PCD01.replace("MSG0001", "MSG0002").replace("0123456789ABCDEF", "FFFF").replace(
        "HPC^Chair 2^1", "ZZZ^Nowhere")
    code, reason, _ = monitor_feed.ingest(db=db, raw=lost, peer="gw")
    assert code == "AE" and reason.startswith("unroutable")
    bad = monitor_feed.ingest(db=db, raw="not hl7", peer="gw")
    assert bad[0] == "AR"
    statuses = sorted(db.execute(select(MonitorMessage.status)).scalars())
    assert statuses == ["rejected", "rejected", "unmatched"], "every message is kept for review"


def test_session_status_and_acknowledging_an_alarm(api, world, db: Session) -> None:
    session = open_session(api, db, world.patients["p_a1"])
    nurse = api["nurse_a"]
    nurse.post(f"/api/v1/treatment-sessions/{session}/vitals",
               json={"readings": [{"systolic_mmhg": 150, "diastolic_mmhg": 92}]})
    raised = nurse.post(f"/api/v1/treatment-sessions/{session}/vitals",
                        json={"readings": [{"spo2_pct": 91}]}).json()["alarms"]
    state = nurse.get(f"/api/v1/treatment-sessions/{session}").json()
    assert state["pre_dose_problem"].startswith("Baseline BP 150/92 is above 140/90")
    assert [m["criterion"] for m in state["discharge_missing"]] == ["dosing-ended"]
    assert [a["kind"] for a in state["alarms"]] == ["spo2-low"]
    assert state["alarms"][0]["acknowledged_at"] is None and len(state["readings"]) == 2
    url = f"/api/v1/treatment-sessions/{session}/alarms/{raised[0]['id']}/acknowledge"
    assert nurse.post(url, json={"note": ""}).status_code == 422
    done = nurse.post(url, json={"note": "oxygen 2 L/min, repositioned"})
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "nurse_a"
    assert nurse.post(url, json={"note": "again"}).status_code == 409
    again = nurse.post(f"/api/v1/treatment-sessions/{session}/vitals",
                       json={"readings": [{"spo2_pct": 90}]}).json()["alarms"]
    assert [a["kind"] for a in again] == ["spo2-low"], "after acknowledgement it may alarm again"
    assert api["frontdesk"].get(f"/api/v1/treatment-sessions/{session}").status_code == 403
    assert api["nurse_b"].get(f"/api/v1/treatment-sessions/{session}").status_code == 404
    elsewhere = api["nurse_b"].post(f"/api/v1/treatment-sessions/{session}/vitals",
                                    json={"readings": [{"spo2_pct": 97}]})
    assert elsewhere.status_code == 404, "another site's nurse cannot add to the session"
    assert len(nurse.get(f"/api/v1/treatment-sessions/{session}").json()["readings"]) == 3


def test_unmatched_readings_can_be_attached_by_a_nurse(api, world, db: Session) -> None:
    moment = (datetime.now(UTC) - timedelta(minutes=3)).strftime("%Y%m%d%H%M%S+0000")
    text = PCD01.replace("HPC^Chair 2^1", "A^A2^1").replace("20261126140500-0500", moment).replace(
        "20261126140000-0500", moment)
    assert monitor_feed.ingest(db=db, raw=text, peer="gw")[0] == "AA"
    session = open_session(api, db, world.patients["p_a1"], chair="A2")
    attached = api["nurse_a"].post(f"/api/v1/treatment-sessions/{session}/attach-unmatched").json()
    assert attached["stored"] == 1
    assert {a["kind"] for a in attached["alarms"]} == {"systolic-high"}
    assert api["nurse_a"].post(
        f"/api/v1/treatment-sessions/{session}/attach-unmatched").json()["stored"] == 0


def test_monitor_reading_from_the_future_is_refused_and_kept(db: Session) -> None:
    future = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y%m%d%H%M%S+0000")
    text = PCD01.replace("HPC^Chair 2^1", "A^A1^1").replace("20261126140500-0500", future)
    code, reason, _ = monitor_feed.ingest(db=db, raw=text, peer="gw")
    assert code == "AE" and "in the future" in reason
    assert db.execute(select(MonitorMessage.status)).scalar_one() == "rejected"
    assert count(db, SessionReading) == db.execute(select(func.count()).select_from(
        SessionReading).where(SessionReading.source != "monitor")).scalar_one()


def test_a_batch_finds_its_session_s_baseline_and_open_alarms_in_one_statement(
        api, world, db: Session) -> None:
    session_id = open_session(api, db, world.patients["p_a1"])
    url = f"/api/v1/treatment-sessions/{session_id}/vitals"
    earlier = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    api["nurse_a"].post(url, json={"readings": [
        {"systolic_mmhg": 124, "diastolic_mmhg": 78, "taken_at": earlier}]})
    start_dosing_now(db, session_id)
    api["nurse_a"].post(url, json={"readings": [{"systolic_mmhg": 190, "spo2_pct": 92}]})
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    with statements_sent(db.connection()) as statements:
        watch = treatments.alarm_watch(db, session)
    # the session's alarm state in one statement, and the clinic's rule set (its alarm limits)
    assert len(statements) == 2 and "FROM rule_override" in statements[1]
    assert watch.baseline == treatments.baseline_of(db, session)
    assert watch.baseline is not None and watch.baseline.systolic_mmhg == 124
    assert watch.open_kinds == set(db.execute(select(SessionAlarm.kind).where(
        SessionAlarm.session_pk == session.pk, SessionAlarm.acknowledged_at.is_(None))).scalars())
    assert {"systolic-high", "spo2-low"} <= watch.open_kinds


def test_a_batch_reads_its_session_s_alarm_state_with_the_session(api, world, db: Session) -> None:
    session_id = open_session(api, db, world.patients["p_a1"])
    url = f"/api/v1/treatment-sessions/{session_id}/vitals"
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
    now = datetime.now(UTC)

    def post(minutes_ago: float, **values: float) -> None:
        taken = (now - timedelta(minutes=minutes_ago)).isoformat()
        assert api["nurse_a"].post(url, json={"readings": [{"taken_at": taken, **values}]}
                                   ).status_code == 201

    def agrees() -> treatments.AlarmWatch:
        db.expire_all()
        rows, _ = treatments._rows_in_reach(db, treatments._SESSION_WITH_ALARM_STATE, session_id,
                                            nurse, "session vitals")
        read = treatments.chair_session(rows[0])
        assert (read.pk, read.id, read.dose_start) == (session.pk, session.id, session.dose_start)
        watch = treatments._watch_of(read, rows[0])
        stored = treatments.alarm_watch(db, read)
        assert (watch.baseline, watch.open_kinds, watch.limits) == (
            stored.baseline, stored.open_kinds, stored.limits)
        return watch

    assert agrees().baseline is None, "no readings yet"
    post(30, systolic_mmhg=150, diastolic_mmhg=90)
    post(25, systolic_mmhg=128, diastolic_mmhg=80)
    post(20, heart_rate_bpm=72)  # no blood pressure: not a baseline
    assert agrees().baseline.systolic_mmhg == 128  # type: ignore[union-attr]
    session.dose_start = now - timedelta(minutes=15)
    db.flush()
    db.commit()
    post(10, systolic_mmhg=190, spo2_pct=91)  # after dosing: raises, is not the baseline
    post(5, systolic_mmhg=185, heart_rate_bpm=40)
    watch = agrees()
    assert watch.baseline.systolic_mmhg == 128  # type: ignore[union-attr]
    assert {"systolic-high", "spo2-low"} <= watch.open_kinds
    [spo2] = db.execute(select(SessionAlarm).where(SessionAlarm.session_pk == session.pk,
                                                   SessionAlarm.kind == "spo2-low")).scalars()
    assert api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/alarms/{spo2.id}"
                               "/acknowledge", json={"note": "oxygen given"}).status_code == 200
    assert "spo2-low" not in agrees().open_kinds


def test_a_batch_reads_its_session_as_columns_not_as_a_record(api, world, db: Session) -> None:
    session_id = open_session(api, db, world.patients["p_a1"])
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
    session_pk = session.pk
    db.expunge_all()
    loaded: list[object] = []

    def on_load(target: object, context: object) -> None:
        loaded.append(target)

    taken = datetime.now(UTC) - timedelta(minutes=1)
    event.listen(TreatmentSession, "load", on_load)
    try:
        stored, raised = treatments.add_readings(
            db=db, treatment_session_id=session_id, actor=nurse, data=schemas.ReadingsIn(
                readings=[schemas.ReadingIn(taken_at=taken, systolic_mmhg=200,
                                            diastolic_mmhg=90)]))
    finally:
        event.remove(TreatmentSession, "load", on_load)
    assert (stored, [a.kind for a in raised]) == (1, ["systolic-high"])
    assert raised[0].session_pk == session_pk
    assert loaded == [], "the session's record (its checks and overrides as JSON) is not loaded"


def test_a_batch_reads_its_session_from_a_kept_plan(api, world, db: Session) -> None:
    session_id = open_session(api, db, world.patients["p_a1"])
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
    engine = db.get_bind().engine
    contexts: list[object] = []

    def seen(_conn, _cursor, statement: str, _params, context, _many) -> None:
        if "open_kinds" in statement:
            contexts.append(context)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for minutes in (3, 2):
            treatments.add_readings(
                db=db, treatment_session_id=session_id, actor=nurse, data=schemas.ReadingsIn(
                    readings=[schemas.ReadingIn(
                        taken_at=datetime.now(UTC) - timedelta(minutes=minutes),
                        systolic_mmhg=200, diastolic_mmhg=90)]))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # run on the driver's cursor from a plan made once (kept_rows), not set up by SQLAlchemy at
    # each batch, which gives every execution a context of its own
    assert contexts == [None, None]
    # the open alarm read back from that plan: the second batch raises no second one
    assert [kind for (kind,) in db.execute(select(SessionAlarm.kind).where(
        SessionAlarm.session_pk == session.pk))] == ["systolic-high"]
