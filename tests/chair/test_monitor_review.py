"""Reviewing monitor messages: unmatched ones attached to their session (alarms follow),
rejected ones marked reviewed; filters, paging, refusals and who may see what."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.integrations import monitor_feed
from ketaclinic.treatments.models import (
    DISCHARGED,
    MonitorMessage,
    SessionAlarm,
    SessionReading,
    TreatmentSession,
)
from tests.conftest import csrf_of
from tests.integrations.test_pcd01 import PCD01, unreadable
from tests.treatments.test_ingest import chair_id, open_session

LIST = "/api/v1/monitor-messages"


def oru(control_id: str, location: str, systolic: int = 122,
        taken: datetime | None = None) -> str:
    taken = taken or datetime.now(UTC) - timedelta(minutes=2)
    stamp = taken.strftime("%Y%m%d%H%M%S+0000")
    return (PCD01.replace("MSG0001", control_id).replace("HPC^Chair 2^1", location)
            .replace("20261126140500-0500", stamp).replace("20261126140000-0500", stamp)
            .replace("|186|266016", f"|{systolic}|266016"))


def feed(db: Session, *messages: str) -> list[str]:
    answers = monitor_feed.ingest_group(db=db, messages=[
        monitor_feed.Incoming(m, "gw:7") for m in messages])
    return [a.code for a in answers]


def test_an_unmatched_message_is_attached_and_a_rejected_one_reviewed(api, world, db) -> None:
    assert feed(db, oru("U1", "A^A1^1", systolic=195), unreadable(oru("R1", "A^A1^1")),
                oru("B1", "B^B1^1"), oru("X1", "Z^Nowhere^1")) == [
        "AA", "AE", "AA", "AE"]
    nurse = api["nurse_a"]
    listed = nurse.get(LIST)
    assert listed.status_code == 200, listed.text
    # nurse_a works at A: A's two and the one routed to no site, not B's
    assert {(m["control_id"], m["status"], m["site"]) for m in listed.json()} == {
        ("U1", "unmatched", "A"), ("R1", "rejected", "A"), ("X1", "rejected", None)}
    assert listed.headers["X-Total-Count"] == "3"
    unmatched = next(m for m in listed.json() if m["control_id"] == "U1")
    assert unmatched["chair"] == "A1" and unmatched["readings"] == 1
    assert [m["control_id"] for m in nurse.get(LIST, params={"status": "rejected"}).json()
            ] == ["X1", "R1"]
    session = open_session(api, db, world.patients["p_a1"], chair="A2")
    attached = nurse.post(f"{LIST}/{unmatched['id']}/attach", json={"treatment_session_id": session})
    assert attached.status_code == 200, attached.text
    assert attached.json()["status"] == "attached" and attached.json()["reviewed_by"] == "nurse_a"
    reading = db.execute(select(SessionReading).where(SessionReading.systolic_mmhg == 195)
                         ).scalar_one()
    assert str(reading.session_pk) and db.execute(select(SessionAlarm.kind).where(
        SessionAlarm.reading_pk == reading.pk)).scalars().all() == ["systolic-high"]
    rejected = next(m for m in listed.json() if m["control_id"] == "R1")
    again = nurse.post(f"{LIST}/{rejected['id']}/attach", json={"treatment_session_id": session})
    assert again.status_code == 409
    reviewed = nurse.post(f"{LIST}/{rejected['id']}/review",
                          json={"note": "gateway sent SpO2 in tenths; vendor told"})
    assert reviewed.status_code == 200 and reviewed.json()["review_note"].startswith("gateway")
    assert nurse.post(f"{LIST}/{rejected['id']}/review", json={"note": "twice"}).status_code == 409
    assert [m["control_id"] for m in nurse.get(LIST).json()] == ["X1"]
    assert {m["control_id"] for m in nurse.get(LIST, params={"shown": "reviewed"}).json()} == {
        "U1", "R1"}


def test_a_message_stored_with_an_observation_set_aside_waits_for_a_look(api, world, db) -> None:
    """A probe sending an SpO2 of 130 beside a good pressure: the pressure is on the session, and
    the message is on the list as partial, naming what was set aside, until a nurse has looked."""
    session = open_session(api, db, world.patients["p_a1"], chair="A1")
    probe = oru("P1", "A^A1^1", systolic=150).replace("|97|262688", "|130|262688")
    assert feed(db, probe, oru("W1", "A^A1^1", systolic=151)) == ["AA", "AA"]
    nurse = api["nurse_a"]
    [listed] = nurse.get(LIST).json()
    assert (listed["control_id"], listed["status"], listed["chair"]) == ("P1", "partial", "A1")
    assert listed["reason"].startswith("observations set aside: OBX 5 (spo2_pct): 130")
    assert [m["control_id"] for m in nurse.get(LIST, params={"status": "partial"}).json()] == ["P1"]
    on_session = db.execute(select(SessionReading.systolic_mmhg).join(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session), SessionReading.systolic_mmhg.is_not(None))
                            ).scalars().all()
    assert sorted(on_session) == [150, 151]
    assert nurse.post(f"{LIST}/{listed['id']}/attach",
                      json={"treatment_session_id": session}).status_code == 409
    reviewed = nurse.post(f"{LIST}/{listed['id']}/review",
                          json={"note": "SpO2 probe on chair A1 replaced"})
    assert reviewed.status_code == 200 and reviewed.json()["status"] == "partial"
    assert nurse.get(LIST).json() == []


def open_b_session(api, db: Session, pid: str) -> str:
    evaluation = api["nurse_b"].post(f"/api/v1/patients/{pid}/evaluations",
                                     json={"route": "iv"}).json()
    assert api["prescriber"].post(f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign",
                                  json={"decision": "start"}).status_code == 200
    checked_in = api["nurse_b"].post(f"/api/v1/patients/{pid}/treatment-sessions", json={
        "evaluation_id": evaluation["id"], "chair_id": chair_id(db, "B1")})
    assert checked_in.status_code == 201, checked_in.text
    return str(checked_in.json()["id"])


def test_filters_paging_and_refusals(api, world, db) -> None:
    feed(db, *[oru(f"P{n}", "A^A1^1") for n in range(5)])
    nurse = api["nurse_a"]
    first = nurse.get(LIST, params={"limit": 2, "site": "A"})
    assert first.headers["X-Total-Count"] == "5" and len(first.json()) == 2
    older = first.headers["Link"].split(">")[0].lstrip("<")
    second = nurse.get(older)
    assert [m["control_id"] for m in second.json()] == ["P2", "P1"]
    today = datetime.now(UTC).date()
    assert nurse.get(LIST, params={"until": str(today - timedelta(days=2))}).json() == []
    for params, field in (({"status": "accepted"}, "status"), ({"shown": "mine"}, "shown"),
                          ({"since": "yesterday"}, "since"), ({"site": "B"}, "site"),
                          ({"before": "x"}, "before")):
        refused = nurse.get(LIST, params=params)
        assert refused.status_code == 422, (params, refused.text)
        assert field in refused.text and "accepted" in refused.text.lower()
    message_id = first.json()[0]["id"]
    b_session = open_b_session(api, db, world.patients["p_b1"])
    wrong_site = api["prescriber"].post(f"{LIST}/{message_id}/attach",
                                        json={"treatment_session_id": b_session})
    assert wrong_site.status_code == 422 and "another site" in wrong_site.text
    assert api["nurse_b"].post(f"{LIST}/{message_id}/review",
                               json={"note": "not mine"}).status_code == 404
    assert api["frontdesk"].get(LIST).status_code == 403
    assert api["nurse_a"].post(f"{LIST}/{message_id}/review", json={"note": "x"}).status_code == 422


def test_the_page_lists_and_refuses_in_place(web, db) -> None:
    feed(db, oru("W1", "A^A1^1"))
    page = web["nurse_a"].get("/monitor-messages")
    assert page.status_code == 200 and "W1" in page.text
    assert "No open session at this site to attach to" in page.text
    bad = web["nurse_a"].get("/monitor-messages", params={"since": "soon"})
    assert bad.status_code == 422 and "Since" in bad.text and "YYYY-MM-DD" in bad.text


def test_kept_messages_are_never_deleted(db) -> None:
    feed(db, oru("D1", "A^A1^1"))
    pk = db.execute(select(MonitorMessage.pk)).scalars().first()
    with pytest.raises(Exception, match="never deleted"), db.begin_nested():
        db.execute(text("DELETE FROM monitor_message WHERE pk = :pk"), {"pk": pk})


def _open_unmatched(db: Session) -> int:
    return db.execute(select(func.count()).select_from(MonitorMessage).where(
        MonitorMessage.status == "unmatched", MonitorMessage.reviewed_at.is_(None))).scalar_one()


def test_a_monitor_left_on_between_sessions_is_reviewed_at_once(api, world, db) -> None:
    feed(db, *[oru(f"LEFT{n}", "A^A1^1") for n in range(30)], unreadable(oru("BAD", "A^A1^1")),
         oru("THEIRS", "B^B1^1"))
    nurse = api["nurse_a"]
    listed = nurse.get(LIST, params={"status": "unmatched", "site": "A"})
    assert listed.headers["X-Total-Count"] == "30"
    through = listed.headers["X-Review-Through"]
    feed(db, oru("LATE", "A^A1^1"))  # arrives while the nurse reads the list
    before = _open_unmatched(db)
    for body, field in (({"status": "attached"}, "status"), ({"through": "newest"}, "through"),
                        ({"note": "ok"}, "note"), ({"site": "B"}, "site"),
                        ({"since": "monday"}, "since")):
        refused = nurse.post(f"{LIST}/review", json={
            "status": "unmatched", "site": "A", "through": through,
            "note": "monitor left on overnight; no patient", **body})
        assert refused.status_code == 422 and field in refused.text, (body, refused.text)
    assert _open_unmatched(db) == before, "a refused request closes nothing"
    assert api["frontdesk"].post(f"{LIST}/review", json={
        "through": through, "note": "not theirs to close"}).status_code == 403

    done = nurse.post(f"{LIST}/review", json={
        "status": "unmatched", "site": "A", "through": through,
        "note": "monitor left on overnight; no patient"})
    assert done.status_code == 200 and done.json() == {"reviewed": 30}, done.text
    assert [m["control_id"] for m in nurse.get(LIST).json()] == ["LATE", "BAD"]
    assert [m["control_id"] for m in api["nurse_b"].get(LIST).json()] == ["THEIRS"]
    closed = nurse.get(LIST, params={"shown": "reviewed", "limit": 1}).json()[0]
    assert closed["reviewed_by"] == "nurse_a" and closed["review_note"].startswith("monitor left")
    events = db.execute(select(AuditEvent.detail).where(
        AuditEvent.record_type == "MonitorMessage", AuditEvent.action == "update")).scalars().all()
    assert events == ["reviewed 30 messages at once (site A, kind unmatched): "
                      "monitor left on overnight; no patient"]


def test_the_page_marks_every_listed_message_reviewed_with_one_note(web, db) -> None:
    feed(db, *[oru(f"PILE{n}", "A^A1^1") for n in range(12)])
    nurse = web["nurse_a"]
    page = nurse.get("/monitor-messages", params={"status": "unmatched"})
    form = page.text.split('id="review-all"', 1)[1].split("</form>", 1)[0]
    assert "Mark all 12 reviewed" in form
    through = form.split('name="through" value="', 1)[1].split('"', 1)[0]
    fields = {"csrf_token": csrf_of(page.text), "status": "unmatched", "site": "", "since": "",
              "until": "", "through": through}
    short = nurse.post("/monitor-messages/review", data={**fields, "note": "ok"},
                       follow_redirects=False)
    assert short.status_code == 422 and "Note" in short.text and _open_unmatched(db) == 12
    done = nurse.post("/monitor-messages/review", data={**fields, "note": "monitor test run"},
                      follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith(
        "/monitor-messages?") and "status=unmatched" in done.headers["location"]
    assert _open_unmatched(db) == 0
    assert 'id="review-all"' not in nurse.get(done.headers["location"]).text


def test_a_message_from_days_before_is_not_attached_to_today_s_session(api, world, db) -> None:
    assert feed(db, oru("OLD", "A^A1^1", taken=datetime.now(UTC) - timedelta(days=2))) == ["AA"]
    listed = api["nurse_a"].get(LIST).json()
    session = open_session(api, db, world.patients["p_a1"], chair="A2")
    refused = api["nurse_a"].post(f"{LIST}/{listed[0]['id']}/attach",
                                  json={"treatment_session_id": session})
    assert refused.status_code == 422 and "treatment_session_id" in refused.text
    assert "more than a day before" in refused.text
    assert db.execute(select(SessionReading.session_pk)).scalars().all() == [None]


def test_one_chair_s_pile_is_closed_and_the_other_chairs_messages_stay_open(api, world, db) -> None:
    feed(db, *[oru(f"A1-{n}", "A^A1^1") for n in range(4)], oru("A2-0", "A^A2^1"))
    nurse = api["nurse_a"]
    a1 = chair_id(db, "A1")
    listed = nurse.get(LIST, params={"chair": a1})
    assert listed.headers["X-Total-Count"] == "4"
    assert {m["chair"] for m in listed.json()} == {"A1"}
    for chair in ("nope", chair_id(db, "B1")):
        refused = nurse.get(LIST, params={"chair": chair})
        assert refused.status_code == 422 and "chair" in refused.text, refused.text
        refused = nurse.post(f"{LIST}/review", json={
            "chair": chair, "through": listed.headers["X-Review-Through"], "note": "left on"})
        assert refused.status_code == 422 and "chair" in refused.text, refused.text
    done = nurse.post(f"{LIST}/review", json={
        "chair": a1, "through": listed.headers["X-Review-Through"], "note": "left on"})
    assert done.json() == {"reviewed": 4}
    assert [m["control_id"] for m in nurse.get(LIST).json()] == ["A2-0"]
    detail = db.execute(select(AuditEvent.detail).where(
        AuditEvent.record_type == "MonitorMessage")).scalar_one()
    assert detail == ("reviewed 4 messages at once (chair A1, kind rejected, unmatched, partial): "
                      "left on")


def test_a_message_from_before_the_chair_s_last_discharge_is_flagged(api, web, world, db) -> None:
    earlier = datetime.now(UTC) - timedelta(minutes=40)
    feed(db, oru("BEFORE", "A^A2^1", taken=earlier), oru("ELSEWHERE", "A^A1^1", taken=earlier))
    session_id = open_session(api, db, world.patients["p_a1"], chair="A2")
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    session.status, session.discharged_at = DISCHARGED, datetime.now(UTC) - timedelta(minutes=5)
    db.flush()
    page = web["nurse_a"].get("/monitor-messages").text
    rows = [row.split("</tr>")[0] for row in page.split('<tr id="message-')[1:]]
    before = next(r for r in rows if "BEFORE" in r)
    elsewhere = next(r for r in rows if "ELSEWHERE" in r)
    assert "last session was discharged" in before and "likely that patient" in before
    assert "last session was discharged" not in elsewhere, "A1 has held no session"


def test_the_chair_s_page_says_when_its_monitor_sends_what_cannot_be_read(
        api, web, world, db) -> None:
    """The nurse at the chair is the one who can reseat a probe: the session's page says how
    many of its monitor's messages had observations set aside, and why, until they are
    reviewed."""
    session = open_session(api, db, world.patients["p_a1"], chair="A1")
    page = web["nurse_a"].get(f"/treatment-sessions/{session}")
    assert page.status_code == 200 and 'id="set-aside"' not in page.text
    probe = oru("P1", "A^A1^1", systolic=150).replace("|97|262688", "|130|262688")
    feed(db, probe, probe.replace("P1", "P2"), oru("W1", "A^A1^1"))
    db.commit()
    page = web["nurse_a"].get(f"/treatment-sessions/{session}")
    notice = page.text.split('id="set-aside"', 1)[1].split("</p>", 1)[0]
    assert "2 messages from A1" in notice and "OBX 5 (spo2_pct): 130 is outside" in notice
    assert "status=partial&amp;chair=" in notice
    for listed in api["nurse_a"].get(LIST, params={"status": "partial"}).json():
        assert api["nurse_a"].post(f"{LIST}/{listed['id']}/review",
                                   json={"note": "probe reseated"}).status_code == 200
    assert 'id="set-aside"' not in web["nurse_a"].get(f"/treatment-sessions/{session}").text


def test_the_chair_s_page_says_when_its_monitor_s_messages_are_rejected(
        api, web, world, db) -> None:
    """A monitor whose clock runs an hour ahead has every message refused: no reading stored,
    no alarm raised, at a chair where the nurse may trust the monitor. The session's page says
    so, first and as an alert, until the messages are reviewed."""
    session = open_session(api, db, world.patients["p_a1"], chair="A1")
    ahead = datetime.now(UTC) + timedelta(hours=1)
    assert feed(db, oru("F1", "A^A1^1", systolic=195, taken=ahead)) == ["AE"]
    assert feed(db, oru("P1", "A^A1^1").replace("|97|262688", "|130|262688")) == ["AA"]
    db.commit()
    page = web["nurse_a"].get(f"/treatment-sessions/{session}").text
    rejected = page.split('id="monitor-rejected"', 1)[1].split("</p>", 1)[0]
    assert "1 message from A1's monitor was rejected" in rejected
    assert "no alarm was raised" in rejected and "in the future" in rejected
    assert page.index('id="monitor-rejected"') < page.index('id="set-aside"')
    for listed in api["nurse_a"].get(LIST, params={"status": "rejected"}).json():
        assert api["nurse_a"].post(f"{LIST}/{listed['id']}/review",
                                   json={"note": "monitor clock set"}).status_code == 200
    page = web["nurse_a"].get(f"/treatment-sessions/{session}").text
    assert 'id="monitor-rejected"' not in page and 'id="set-aside"' in page
