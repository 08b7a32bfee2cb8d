"""A session's readings page lists a page at a time, newest first, and leads to older ones: a
monitor's second-by-second readings are never drawn all at once; the blood pressures alone are a
click away."""

import html
import re
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import TreatmentSession
from ketaclinic.treatments.readings_by_page import READINGS_PAGE, page_of
from tests.treatments.test_ingest import open_session

SECONDS = 700  # more than two pages of oximetry, a pressure every minute


def _monitored(api, db: Session, world) -> TreatmentSession:
    session_id = open_session(api, db, world.patients["p_a1"])
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    start = session.checked_in_at + timedelta(minutes=1)
    readings = [Reading(start + timedelta(seconds=s), spo2_pct=97.0, heart_rate_bpm=70.0,
                        **({"systolic_mmhg": 120.0 + s // 60, "diastolic_mmhg": 80.0}
                           if s % 60 == 0 else {})) for s in range(SECONDS)]
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
    treatments.store_readings(db=db, treatment_session=session, chair_pk=session.chair_pk,
                              readings=readings, source="api", actor=nurse)
    return session


def _rows(text: str) -> int:
    table = text[text.index('id="readings"'):]
    return table[:table.index("</table>")].count("<tr><td>")


def test_the_readings_page_pages_newest_first_and_reaches_every_reading(
        api, web, world, db: Session) -> None:
    session = _monitored(api, db, world)
    nurse = web["nurse_a"]
    url = f"/treatment-sessions/{session.id}/readings"
    seen = 0
    page = nurse.get(url)
    assert page.status_code == 200
    assert f"{READINGS_PAGE} of {SECONDS} shown" in page.text
    while True:
        assert page.status_code == 200
        seen += _rows(page.text)
        older = re.search(r'id="older-readings" href="([^"]+)"', page.text)
        if older is None:
            break
        page = nurse.get(html.unescape(older.group(1)))
        assert "Newest readings" in page.text
    assert seen == SECONDS


def test_the_blood_pressures_alone_are_listed_on_their_own(api, web, world, db: Session) -> None:
    session = _monitored(api, db, world)
    page = web["nurse_a"].get(f"/treatment-sessions/{session.id}/readings?pressures=1")
    pressures = -(-SECONDS // 60)
    assert page.status_code == 200 and f"{pressures} of {pressures} shown" in page.text
    assert _rows(page.text) == pressures and 'id="older-readings"' not in page.text
    listed = page_of(db, session.pk, pressures_only=True, limit=5)
    assert [r.systolic_mmhg for r in listed.readings] == [131.0, 130.0, 129.0, 128.0, 127.0]
    older = page_of(db, session.pk, pressures_only=True, limit=5, before=listed.next_cursor or "")
    assert [r.systolic_mmhg for r in older.readings][:1] == [126.0]


def test_a_cursor_the_server_did_not_give_is_refused_naming_it(api, web, world, db: Session
                                                               ) -> None:
    session = _monitored(api, db, world)
    for cursor in ("not-a-cursor!", "MTIz"):
        refused = web["nurse_a"].get(f"/treatment-sessions/{session.id}/readings",
                                     params={"before": cursor})
        assert refused.status_code == 422, refused.text[:300]
        assert "Before: is not a cursor this server gave" in refused.text
