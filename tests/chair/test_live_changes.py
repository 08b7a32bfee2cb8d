"""The chair-side pages' change watcher: one read of every watched session's marker per poll,
however many pages watch, and only the pages of a session that changed are woken."""

import asyncio
import re
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.chair.live_changes import ChangeWatcher, drawn_token
from ketaclinic.clinics.models import Site
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.treatments import reading_tally
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import TreatmentSession
from tests.treatments.test_ingest import open_session

READINGS_TABLE = re.compile(r"\bsession_reading\b(?!_)")


def test_one_read_per_poll_wakes_only_the_changed_sessions_pages() -> None:
    markers = {1: (1,), 2: (1,)}
    reads: list[list[int]] = []

    def read(pks: Sequence[int]) -> dict[int, tuple[int, ...]]:
        reads.append(sorted(pks))
        return {pk: markers[pk] for pk in pks}

    async def scenario() -> None:
        watcher = ChangeWatcher(read, every_s=0.01)
        async with watcher.watch(1) as first, watcher.watch(1) as second, \
                watcher.watch(2) as other:
            # a poll that began before the third page came may end after it (a loaded machine):
            # count from the first poll that saw every page
            for _ in range(200):
                if reads and reads[-1] == [1, 2]:
                    break
                await asyncio.sleep(0.005)
            reads.clear()
            await asyncio.sleep(0.08)
            assert reads and all(pks == [1, 2] for pks in reads)  # forty pages: still one read
            markers[2] = (2,)
            await asyncio.wait_for(other.wait(), 1)
            await asyncio.sleep(0.03)
            assert not first.is_set() and not second.is_set()
        await asyncio.sleep(0.05)
        assert watcher._task is None  # no page left: no more reads

    # A thread of its own: a browser test in the same run may hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()


def test_a_change_between_drawing_the_page_and_opening_its_stream_is_not_missed() -> None:
    markers = {1: ("drawn",)}

    def read(pks: Sequence[int]) -> dict[int, tuple[str, ...]]:
        return {pk: markers[pk] for pk in pks}

    async def scenario() -> None:
        watcher = ChangeWatcher(read, every_s=0.01)
        drawn = drawn_token(markers[1])
        markers[1] = ("a reading arrived before the stream connected",)
        async with watcher.watch(1, drawn) as told:
            await asyncio.wait_for(told.wait(), 1)
        async with watcher.watch(1, drawn_token(markers[1])) as quiet:
            await asyncio.sleep(0.05)
            assert not quiet.is_set(), "a page drawn with the latest state is not told again"

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()


def test_the_page_hands_its_stream_what_it_was_drawn_with(api, web, world, db: Session) -> None:
    session = open_session(api, db, world.patients["p_a1"], chair="A1")
    page = web["nurse_a"].get(f"/treatment-sessions/{session}")
    pk = db.execute(select(TreatmentSession.pk).where(TreatmentSession.id == uuid.UUID(session))
                    ).scalar_one()
    assert f"/stream?drawn={drawn_token(treatments.change_markers(db, [pk])[pk])}" in page.text


def test_a_sessions_marker_moves_with_its_readings_only(api, world, db: Session) -> None:
    first = open_session(api, db, world.patients["p_a1"], chair="A1")
    second = open_session(api, db, world.patients["p_a2"], chair="A2")
    pks = [db.execute(select(TreatmentSession.pk).where(TreatmentSession.id == uuid.UUID(s)))
           .scalar_one() for s in (first, second)]
    before = treatments.change_markers(db, pks)
    posted = api["nurse_a"].post(f"/api/v1/treatment-sessions/{first}/vitals", json={
        "readings": [{"systolic_mmhg": 190, "diastolic_mmhg": 80}]})
    assert posted.status_code == 201, posted.text
    after = treatments.change_markers(db, pks)
    assert after[pks[0]] != before[pks[0]] and after[pks[1]] == before[pks[1]]


def test_a_sessions_marker_moves_when_a_reading_is_attached_and_not_when_its_tally_folds(
        api, world, db: Session) -> None:
    session_id = open_session(api, db, world.patients["p_a1"], chair="A1")
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    for minutes in (3, 2):
        assert api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/vitals", json={
            "readings": [{"heart_rate_bpm": 70, "taken_at": (
                clock.now() - timedelta(minutes=minutes)).isoformat()}]}).status_code == 201
    before = treatments.change_markers(db, [session.pk])[session.pk]
    reading_tally.fold_parts(db.connection(), [session.pk])
    assert treatments.change_markers(db, [session.pk])[session.pk] == before, \
        "a fold changes nothing the page shows"
    # A reading kept unmatched (its key below the session's newest) attached to the session.
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
    treatments.store_readings(db=db, treatment_session=None, chair_pk=session.chair_pk,
                              source="monitor", actor=nurse,
                              readings=[Reading(clock.now() - timedelta(minutes=4),
                                                heart_rate_bpm=71.0)])
    assert treatments.attach_unmatched(db=db, treatment_session_id=session_id,
                                       actor=nurse)[0] == 1
    assert treatments.change_markers(db, [session.pk])[session.pk] != before


def test_the_markers_read_each_sessions_tally_not_its_readings(api, world, db: Session) -> None:
    # A poll every second for every watched session: reading a session's readings grew with
    # its length (40 sessions of 7,200 readings: 36 ms a poll on SQLite, 43 on PostgreSQL).
    session_id = open_session(api, db, world.patients["p_a1"], chair="A1")
    pk = db.execute(select(TreatmentSession.pk).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    statements: list[str] = []
    connection = db.connection()

    def noted(_conn, _cursor, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", noted)
    try:
        treatments.change_markers(db, [pk])
    finally:
        event.remove(connection, "before_cursor_execute", noted)
    assert statements and not [s for s in statements if READINGS_TABLE.search(s)]


def test_a_sites_marker_moves_when_its_chairs_in_use_change(api, world, db: Session) -> None:
    site_a, site_b = (db.execute(select(Site.pk).where(Site.code == code)).scalar_one()
                      for code in ("A", "B"))
    before = treatments.site_change_markers(db, [site_a, site_b])
    session = open_session(api, db, world.patients["p_a1"], chair="A1")
    opened = treatments.site_change_markers(db, [site_a, site_b])
    assert opened[site_a] != before[site_a] and opened[site_b] == before[site_b]
    api["nurse_a"].post(f"/api/v1/treatment-sessions/{session}/vitals", json={
        "readings": [{"systolic_mmhg": 195, "diastolic_mmhg": 80}]})
    alarmed = treatments.site_change_markers(db, [site_a])
    assert alarmed[site_a][1:] != opened[site_a][1:], "a raised alarm moves the site's marker"
