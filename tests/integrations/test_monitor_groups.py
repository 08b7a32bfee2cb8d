"""A group of monitor messages stored in one transaction gives exactly what storing them one by
one gives: the same answers, readings, alarms and kept messages; and the alarm state of many
sessions read at once equals each session's read alone."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ketaclinic.integrations import monitor_feed
from ketaclinic.integrations.monitor_feed import Incoming
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import (
    MonitorMessage,
    SessionAlarm,
    SessionReading,
    TreatmentSession,
)
from tests.integrations.test_pcd01 import PCD01
from tests.treatments.test_ingest import open_session, start_dosing_now


def oru(control_id: str, chair: str, minutes_ago: int, systolic: int) -> str:
    stamp = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y%m%d%H%M%S+0000")
    return (PCD01.replace("MSG0001", control_id).replace("HPC^Chair 2^1", f"A^{chair}^1")
            .replace("20261126140500-0500", stamp).replace("20261126140000-0500", stamp)
            .replace("|186|266016", f"|{systolic}|266016"))


def outcome(db: Session, answers: list[monitor_feed.Answer]) -> dict[str, object]:
    readings = sorted((r.session_pk, r.taken_at, r.systolic_mmhg) for r in db.execute(
        select(SessionReading).where(SessionReading.source == "monitor")).scalars())
    alarms = sorted((a.session_pk, a.kind, a.value) for a in db.execute(
        select(SessionAlarm)).scalars())
    kept = [(m.control_id, m.status, m.ack_code) for m in db.execute(
        select(MonitorMessage).order_by(MonitorMessage.pk)).scalars()]
    return {"answers": [(a.code, a.reason, a.control_id) for a in answers],
            "readings": readings, "alarms": alarms, "kept": kept}


def test_a_group_stores_what_one_message_at_a_time_stores(api, world, db: Session) -> None:
    first = open_session(api, db, world.patients["p_a1"], chair="A1")
    second = open_session(api, db, world.patients["p_a2"], chair="A2")
    for session in (first, second):
        start_dosing_now(db, session)  # dosing began 5 minutes ago
    messages = [
        oru("M1", "A1", 9, 120), oru("M2", "A2", 9, 150), oru("M3", "A1", 7, 130),
        "not hl7 at all", oru("M4", "A1", 4, 175),  # a rise of 45 over the baseline 130
        oru("M5", "A2", 4, 150), oru("M4", "A1", 4, 175),  # M4 again: stored once
        oru("M6", "A1", 3, 185), oru("M7", "Nowhere", 3, 120), oru("M8", "A2", 2, 195),
        oru("M9", "A1", -30, 120),  # half an hour ahead: refused
    ]
    incoming = [Incoming(text, "gw:1") for text in messages]
    one_by_one = db.begin_nested()
    answers = [monitor_feed.ingest_group(db=db, messages=[m])[0] for m in incoming]
    expected = outcome(db, answers)
    one_by_one.rollback()
    assert outcome(db, []) == {"answers": [], "readings": [], "alarms": [], "kept": []}
    grouped = outcome(db, monitor_feed.ingest_group(db=db, messages=incoming))
    assert grouped == expected
    assert {kind for _, kind, _ in grouped["alarms"]} >= {"systolic-rise", "systolic-high"}
    assert [a[0] for a in grouped["answers"]] == ["AA", "AA", "AA", "AR", "AA", "AA", "AA",
                                                  "AA", "AE", "AA", "AE"]


def test_the_alarm_state_of_many_sessions_equals_each_read_alone(api, world, db: Session) -> None:
    first = open_session(api, db, world.patients["p_a1"], chair="A1")
    open_session(api, db, world.patients["p_a2"], chair="A2")  # not dosed yet
    start_dosing_now(db, first)
    monitor_feed.ingest_group(db=db, messages=[Incoming(text, "gw") for text in (
        oru("W1", "A1", 9, 128), oru("W2", "A1", 2, 200), oru("W3", "A2", 1, 140))])
    sessions = list(db.execute(select(TreatmentSession).where(
        TreatmentSession.status == "open")).scalars())
    together = treatments.alarm_watches(db, sessions)
    alone = {s.pk: treatments.alarm_watch(db, s) for s in sessions}
    assert {pk: (w.baseline, w.open_kinds) for pk, w in together.items()} == {
        pk: (w.baseline, w.open_kinds) for pk, w in alone.items()}
    assert any(w.baseline is not None and w.open_kinds for w in together.values())


def test_the_look_for_resends_reads_only_resends_however_often_a_control_id_recurs(
        api, world, db: Session) -> None:
    # Gateways restart their counters: over months a control id names thousands of messages.
    # Finding a resend among them must not read them all (a group took 76 ms on SQLite and
    # 109 ms on PostgreSQL against 14 and 22 with 200 earlier messages a control id).
    earlier = [oru("MSG7", "A1", 60 - n, 120 + n) for n in range(20)]
    for text in earlier:
        assert monitor_feed.ingest(db=db, raw=text, peer="gw:1")[0] == "AA"
    connection = db.connection()
    looks: list[tuple[str, object]] = []

    def noted(_conn, _cursor, statement: str, parameters: object, *_rest: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "monitor_message" in statement:
            looks.append((statement, parameters))

    def rows_read() -> int:
        """The rows the group's look finds, looked again now that the group stored its own."""
        [(statement, parameters)] = looks
        found = len(connection.exec_driver_sql(statement, parameters).all())  # type: ignore[arg-type]
        looks.clear()
        return found

    event.listen(connection, "before_cursor_execute", noted)
    try:
        new = oru("MSG7", "A1", 30, 150)
        assert monitor_feed.ingest(db=db, raw=new, peer="gw:1")[0] == "AA"
        assert rows_read() == 1, "a new message under a used control id: itself"
        assert monitor_feed.ingest(db=db, raw=earlier[3], peer="gw:2")[0] == "AA"
        assert rows_read() == 2, "a resend: its first copy and itself"
    finally:
        event.remove(connection, "before_cursor_execute", noted)
    kept = db.execute(select(MonitorMessage.status).where(MonitorMessage.control_id == "MSG7")
                      .order_by(MonitorMessage.pk)).scalars().all()
    assert kept == ["unmatched"] * 21 + ["duplicate"]


def test_a_blood_pressure_beside_an_oximeter_artefact_is_stored_and_alarms(
        api, world, db: Session) -> None:
    """An SpO2 of 130 (a probe's nonsense) set the whole message aside: the 195 systolic beside
    it was never stored and raised no alarm. Now the pressure is taken, the SpO2 set aside, and
    the message kept with the note and answered AA with a warning."""
    session = open_session(api, db, world.patients["p_a1"], chair="A1")
    start_dosing_now(db, session)
    text = oru("ART1", "A1", 1, 195).replace("|97|262688", "|130|262688")
    [answer] = monitor_feed.ingest_group(db=db, messages=[Incoming(text, "gw:1")])
    assert answer.code == "AA" and "OBX 5 (spo2_pct): 130 is outside" in answer.reason
    readings = db.execute(select(SessionReading).where(
        SessionReading.source == "monitor")).scalars().all()
    assert [r.systolic_mmhg for r in readings if r.systolic_mmhg] == [195]
    assert all(r.spo2_pct is None for r in readings)
    assert [a.kind for a in db.execute(select(SessionAlarm)).scalars()] == ["systolic-high"]
    kept = db.execute(select(MonitorMessage)).scalar_one()
    assert (kept.status, kept.ack_code) == ("partial", "AA")
    assert kept.reason.startswith("observations set aside: OBX 5 (spo2_pct)")
