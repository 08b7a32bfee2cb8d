"""Monitor readings that reached a chair while it had no open session: which of them a nurse is
offered to attach to the session opened there next. Readings from before the chair's previous
session ended were another patient's, or older; readings from long before check-in are not this
patient's either (a clinic default a clinic may change)."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.clinics.rules import current_ruleset
from ketaclinic.integrations import monitor_feed
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import DISCHARGED, MonitorMessage, SessionReading, TreatmentSession
from tests.integrations.test_pcd01 import PCD01
from tests.treatments.test_ingest import open_session


def _sent(db: Session, control_id: str, taken: datetime, systolic: int, chair: str = "A2") -> None:
    stamp = taken.strftime("%Y%m%d%H%M%S+0000")
    text = (PCD01.replace("MSG0001", control_id).replace("HPC^Chair 2^1", f"A^{chair}^1")
            .replace("20261126140500-0500", stamp).replace("20261126140000-0500", stamp)
            .replace("|186|266016", f"|{systolic}|266016"))
    assert monitor_feed.ingest(db=db, raw=text, peer="gw")[0] == "AA"


def _session(db: Session, session_id: str) -> TreatmentSession:
    return db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()


def _systolics(api, session_id: str) -> list[float]:
    state = api["nurse_a"].get(f"/api/v1/treatment-sessions/{session_id}").json()
    return [r["systolic_mmhg"] for r in state["readings"]]


def test_readings_from_before_the_chair_s_previous_session_ended_are_not_the_next_patient_s(
        api, world, db: Session) -> None:
    now = clock.now().replace(microsecond=0)  # monitors send whole seconds
    # The monitor at A2 sent a reading before the first patient's session was opened; nobody
    # attached it. That session ran, and was discharged 20 minutes ago.
    _sent(db, "BEFORE-FIRST", now - timedelta(minutes=55), systolic=168)
    first = _session(db, open_session(api, db, world.patients["p_a1"], chair="A2"))
    first.checked_in_at = now - timedelta(minutes=50)
    first.status, first.discharged_at = DISCHARGED, now - timedelta(minutes=20)
    db.flush()
    # The next patient sits down, the monitor is put on them, then their session is opened.
    _sent(db, "NEXT", now - timedelta(minutes=10), systolic=122)
    next_id = open_session(api, db, world.patients["p_a2"], chair="A2")

    offer = treatments.unmatched_offer(db, _session(db, next_id), current_ruleset(db=db))
    assert (offer.count, offer.first, offer.last) == (
        1, now - timedelta(minutes=10), now - timedelta(minutes=10))
    assert offer.since == now - timedelta(minutes=20) and "previous session" in offer.reason
    attached = api["nurse_a"].post(f"/api/v1/treatment-sessions/{next_id}/attach-unmatched")
    assert attached.status_code == 200 and attached.json()["stored"] == 1
    assert _systolics(api, next_id) == [122], "the first patient's reading is not the next one's"
    # the earlier one is still the review list's to settle
    left = db.execute(select(MonitorMessage.status).where(
        MonitorMessage.control_id == "BEFORE-FIRST")).scalar_one()
    assert left == "unmatched"


def test_readings_long_before_check_in_are_not_offered_unless_the_clinic_says_so(
        api, world, db: Session) -> None:
    now = clock.now().replace(microsecond=0)  # monitors send whole seconds
    _sent(db, "OVERNIGHT", now - timedelta(hours=2), systolic=171)
    _sent(db, "AT-THE-CHAIR", now - timedelta(minutes=12), systolic=126)
    session_id = open_session(api, db, world.patients["p_a1"], chair="A2")
    session = _session(db, session_id)
    offer = treatments.unmatched_offer(db, session, current_ruleset(db=db))
    assert offer.count == 1 and offer.since == session.checked_in_at - timedelta(minutes=30)
    assert "30 min before check-in" in offer.reason and "clinic default" in offer.reason

    changed = api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": "unmatched_readings_before_check_in_min", "value": 180,
        "reason": "patients wait at the chair with the monitor on"})
    assert changed.status_code == 201, changed.text
    offer = treatments.unmatched_offer(db, session, current_ruleset(db=db))
    assert offer.count == 2 and "clinic override" in offer.reason
    attached = api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/attach-unmatched")
    assert attached.json()["stored"] == 2
    assert sorted(_systolics(api, session_id)) == [126, 171]


def test_the_offer_counts_without_loading_the_readings(api, world, db: Session) -> None:
    now = clock.now().replace(microsecond=0)  # monitors send whole seconds
    for i in range(40):
        _sent(db, f"M{i}", now - timedelta(minutes=20, seconds=-i * 15), systolic=120)
    session = _session(db, open_session(api, db, world.patients["p_a1"], chair="A2"))
    db.expunge_all()
    session = _session(db, str(session.id))
    offer = treatments.unmatched_offer(db, session, current_ruleset(db=db))
    assert offer.count == 40
    assert not [o for o in db.identity_map.values() if isinstance(o, SessionReading)]


def test_the_chair_page_says_when_the_offered_readings_were_taken(
        api, web, world, db: Session) -> None:
    now = clock.now().replace(microsecond=0)  # monitors send whole seconds
    _sent(db, "EARLY", now - timedelta(minutes=14), systolic=124)
    _sent(db, "LATE", now - timedelta(minutes=6), systolic=128)
    session_id = open_session(api, db, world.patients["p_a1"], chair="A2")
    page = web["nurse_a"].get(f"/treatment-sessions/{session_id}")
    assert page.status_code == 200
    offer = page.text.split('id="unmatched"', 1)[1].split("</form>", 1)[0]
    assert "2 monitor readings" in offer and " between " in offer
    assert "30 min before check-in" in offer, "the page says which readings are offered and why"


def test_a_gateway_s_late_backlog_from_before_the_session_is_held_back_for_review(
        api, world, db: Session) -> None:
    now = clock.now().replace(microsecond=0)
    first = _session(db, open_session(api, db, world.patients["p_a1"], chair="A2"))
    first.checked_in_at = now - timedelta(minutes=50)
    first.status, first.discharged_at = DISCHARGED, now - timedelta(minutes=20)
    db.flush()
    next_id = open_session(api, db, world.patients["p_a2"], chair="A2")
    # A gateway back on the network sends what it held: one reading from the first patient's
    # session, one from after it (this patient sitting down), and one from now.
    _sent(db, "HELD-FIRST", now - timedelta(minutes=30), systolic=175)
    _sent(db, "HELD-NEXT", now - timedelta(minutes=15), systolic=128)
    _sent(db, "NOW", now - timedelta(minutes=1), systolic=131)
    assert sorted(_systolics(api, next_id)) == [128, 131]
    held = db.execute(select(MonitorMessage).where(MonitorMessage.control_id == "HELD-FIRST")
                      ).scalar_one()
    assert held.status == "unmatched" and held.ack_code == "AA"
    assert "before the chair's open session may hold them" in held.reason
    assert "previous session" in held.reason
    assert db.execute(select(SessionReading.session_pk).where(
        SessionReading.message_pk == held.pk)).scalar_one() is None
