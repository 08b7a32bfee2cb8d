"""A patient with a treatment history: Observation searches over many sessions (readings of
every kind, scores, sessions that overlap in time) page, count and sort exactly as the whole list
filtered does, while a search counts the sessions' readings from their tallies and reads the
chair readings of the few sessions a page by date needs, not every reading the patient has."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from sqlalchemy import String, cast, event, func, literal_column, select, update
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit.models import AuditEvent
from ketaclinic.errors import OutOfReach
from ketaclinic.fhir import observations, session_searches, store
from ketaclinic.fhir.filters import Filters
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.patients.models import Patient
from ketaclinic.patients.service import PatientToOpen
from ketaclinic.treatments import reading_tally
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import GivenDose, SessionEvent, TreatmentSession
from tests.treatments.test_ingest import open_session

# Each earlier session: days before today's, minutes after that day's check-in (an overlap).
EARLIER = ((40, 0), (30, 0), (20, 0), (20, 25))
KINDS = ({"systolic_mmhg": 121.0, "diastolic_mmhg": 79.0, "spo2_pct": 97.0},
         {"heart_rate_bpm": 72.0}, {"respiratory_rate_per_min": 14.0, "spo2_pct": 96.0},
         {"temperature_c": 36.9, "heart_rate_bpm": 75.0}, {"diastolic_mmhg": 70.0})


def history(api, world, db: Session) -> Patient:
    """p_a1 with today's open session and four earlier ones, each with readings and scores."""
    pid = world.patients["p_a1"]
    today = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(open_session(api, db, pid)))).scalar_one()
    copied = {c.key: getattr(today, c.key) for c in TreatmentSession.__mapper__.column_attrs
              if c.key not in ("pk", "id", "created_at", "updated_at")}
    sessions = []
    for days, minutes in EARLIER:
        earlier = TreatmentSession(**{**copied, "status": "discharged", "checked_in_at": (
            today.checked_in_at - timedelta(days=days, minutes=-minutes))})
        db.add(earlier)
        sessions.append(earlier)
    sessions.append(today)
    db.flush()
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({today.site_pk}))
    for number, session in enumerate(sessions):
        start = session.checked_in_at - timedelta(minutes=30 if session is today else 0)
        readings = [Reading(start + timedelta(minutes=5 * i), **KINDS[(i + number) % len(KINDS)])
                    for i in range(6)]
        treatments.store_readings(db=db, treatment_session=session, chair_pk=session.chair_pk,
                                  readings=readings, source="api", actor=nurse)
        for minute, kind, value in ((7, "moass", 4.0), (12, "cadss", 11.0),
                                    (12, "side-effect", None)):
            db.add(SessionEvent(session_pk=session.pk, kind=kind, value=value,
                                code="nausea" if kind == "side-effect" else "",
                                at=start + timedelta(minutes=minute)))
    api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={
        "systolic_mmhg": 130, "diastolic_mmhg": 84, "weight_kg": 80,
        "measured_at": (clock.now() - timedelta(days=25)).isoformat()})
    api["nurse_a"].post(f"/api/v1/patients/{pid}/measures", json={
        "instrument": "phq9", "answers": [1] * 9,
        "taken_at": (clock.now() - timedelta(days=21)).isoformat()})
    for code, answer, days in (("2106-3", "no", 23), ("63895-7", "yes", 12), ("82810-3", "no", 2)):
        charted = api["nurse_a"].post(f"/api/v1/patients/{pid}/status-observations", json={
            "code": code, "answer": answer,
            "taken_at": (clock.now() - timedelta(days=days)).isoformat()})
        assert charted.status_code == 201, charted.text
    db.flush()
    return db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()


def test_searches_over_many_sessions_match_the_whole_list_filtered(api, world, db) -> None:
    patient = history(api, world, db)
    everything = store.of_type(db, patient, "Observation")
    assert len(everything) > 60
    since = (clock.now() - timedelta(days=25)).date().isoformat()
    searches = [{}, {"code": ["http://loinc.org|85354-9"]}, {"code": ["8867-4,8310-5"]},
                {"code": ["moass"]}, {"category": ["survey"]},
                {"category": ["vital-signs"], "code": ["9279-1"]}, {"date": [f"ge{since}"]},
                {"date": [f"lt{since}"], "code": ["cadss-total,2708-6"]},
                {"_lastUpdated": [f"ge{since}"]}, {"category": ["laboratory,social-history"]},
                {"code": ["http://loinc.org|2106-3,63895-7"]}]
    for params in searches:
        expected = store.filter_resources("Observation", everything, params)
        filters = Filters.parse("Observation", params)
        for offset, count in [(0, 50), *[(o, 7) for o in range(0, len(expected) + 7, 7)]]:
            page, total = observations.search(db, patient, filters, offset, count)
            assert (page, total) == (expected[offset:offset + count], len(expected)), (
                params, offset)
        for newest_first in (False, True):
            ordered = sorted(expected, key=lambda r: datetime.fromisoformat(
                r["effectiveDateTime"]), reverse=newest_first)
            # five a page: a session's six readings can fill one, up to a tie with the next
            for offset, count in [(0, 50), *[(o, 5) for o in range(0, len(ordered) + 1)]]:
                page, total = observations.search(db, patient, filters, offset, count,
                                                  newest_first)
                assert (page, total) == (ordered[offset:offset + count], len(ordered)), (
                    params, newest_first, offset)


@pytest.fixture()
def statements(db: Session) -> list[str]:
    seen: list[str] = []
    engine = db.get_bind()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_search_counts_readings_from_tallies_and_reads_the_sessions_its_page_needs(
        api, world, db, statements, monkeypatch) -> None:
    patient = history(api, world, db)
    statements.clear()
    observations.search(db, patient, Filters.parse("Observation", {}), 0, 50)
    counting = [s for s in statements if "from session_reading " in s
                and ("count(" in s or "sum(" in s)]
    assert counting == [], "the sessions' readings are counted from their tallies"
    statements.clear()
    observations.search(db, patient, Filters.parse("Observation", {"date": ["ge2020-01-01"]}),
                        0, 50)
    assert any("from session_reading " in s and "sum(" in s for s in statements), (
        "a search bounded by date counts the readings in range")

    asked: list[list[int]] = []
    holding = observations._sessions_holding_top

    def sessions_holding_top(db, patient, take, order, top):
        def recorded(session_pks):
            asked.append(session_pks)
            return top(session_pks)
        return holding(db, patient, take, order, recorded)

    monkeypatch.setattr(observations, "_sessions_holding_top", sessions_holding_top)
    for newest_first in (True, False):
        asked.clear()
        page, _ = observations.search(db, patient, Filters.parse("Observation", {
            "category": ["vital-signs"]}), 0, 3, newest_first)
        assert len(page) == 3
        # one session holds the page's readings, and the next one's begin beyond them
        assert asked == [asked[0]] and len(asked[0]) == 1, asked


def test_a_page_the_chart_holds_is_counted_in_one_statement_and_lists_no_session(
        api, world, db, statements) -> None:
    patient = history(api, world, db)
    filters = Filters.parse("Observation", {})
    everything = store.of_type(db, patient, "Observation")
    for _ in range(2):  # the second search reuses the statements the first built
        statements.clear()
        page, total = observations.search(db, patient, filters, 0, 1)
        assert (page, total) == (everything[:1], len(everything))
        assert len(statements) == 2, statements  # the three counts, then the chart's first row
        assert not any("from treatment_session " in s and "order by" in s for s in statements)
    # the same filters asked again (a new request parses them afresh) find the same statements
    assert Filters.parse("Observation", {}) == filters
    assert hash(Filters.parse("Observation", {})) == hash(filters)
    dated = [Filters.parse("Observation", {"date": [f"ge{day}"]})
             for day in ("2020-01-01", "2020-01-02")]
    assert dated[0] != dated[1] and dated[0].key() != dated[1].key()
    # a page sorted by date from the top of the list reuses its statements; one further down
    # (its start in them) builds its own
    top, further = observations._Order(True, None), observations._Order(True, observations._Start(
        clock.now(), (0, 0, 0), 1, 5))
    kept = observations._top_statement(observations._vitals_from_top, filters, top)
    assert observations._top_statement(observations._vitals_from_top,
                                       Filters.parse("Observation", {}), top) is kept
    assert observations._top_statement(observations._vitals_from_top, filters,
                                       further) is not kept


def test_a_session_whose_readings_tie_with_the_last_found_is_read_too(api, world, db) -> None:
    # A reading at the same moment as the last one found may come before it (ties go by the
    # session's place), so only a session wholly beyond it is left unread.
    patient = history(api, world, db)
    tallies = sorted(db.execute(reading_tally.summed(select(TreatmentSession.pk).where(
        TreatmentSession.patient_pk == patient.pk))).all(), key=lambda t: t.first_at)
    take = 6
    for newest_first, tie in ((True, tallies[2].last_at), (False, tallies[2].first_at)):
        asked: list[list[int]] = []
        # as if the chosen sessions held the page, down to the tie
        found = [SimpleNamespace(at=tie)] * take
        observations._sessions_holding_top(db, patient, take,
                                           observations._Order(newest_first, None),
                                           lambda session_pks, asked=asked, found=found: (
                                               asked.append(session_pks) or found))
        assert tallies[2].session_pk in asked[-1], (newest_first, asked)


def dosed(db: Session, patient: Patient) -> list[TreatmentSession]:
    """The history's sessions given doses: the first two finished, the third under way (no
    end yet), the fourth's `dose_given` written as JSON null (a start with nothing given),
    today's none."""
    sessions = list(db.execute(select(TreatmentSession)
                               .where(TreatmentSession.patient_pk == patient.pk)
                               .order_by(TreatmentSession.checked_in_at)).scalars())
    for number, session in enumerate(sessions[:3]):
        session.dose_start = session.checked_in_at + timedelta(minutes=10)
        session.dose_given = GivenDose(dose_mg=30.0 + number, route="iv", lot_number=f"L{number}")
        session.ordered_by = "dr_a"
    sessions[0].dose_end = sessions[0].dose_start + timedelta(minutes=40)
    sessions[2].status = "open"
    sessions[3].dose_start = sessions[3].checked_in_at
    db.flush()
    db.execute(update(TreatmentSession).where(TreatmentSession.pk == sessions[3].pk)
               .values(dose_given=literal_column("'null'")))
    db.expire_all()
    return sessions


@pytest.mark.parametrize("resource_type", ["Encounter", "MedicationAdministration"])
def test_per_session_searches_page_in_the_database_as_the_whole_list_filtered(
        api, world, db, statements, resource_type) -> None:
    patient = history(api, world, db)
    sessions = dosed(db, patient)
    stored = dict(db.execute(select(TreatmentSession.pk, cast(TreatmentSession.dose_given, String))
                             .where(TreatmentSession.pk.in_([s.pk for s in sessions[3:]]))).all())
    assert stored[sessions[3].pk] == "null"
    everything = store.of_type(db, patient, resource_type)
    assert len(everything) == {"Encounter": 5, "MedicationAdministration": 3}[resource_type]
    since = (clock.now() - timedelta(days=25)).date().isoformat()
    date, done, going = {"Encounter": ("date", "finished", "in-progress"),
                         "MedicationAdministration": ("effective-time", "completed",
                                                      "in-progress")}[resource_type]
    searches = [{}, {"status": [done]}, {"status": [f"{going},{done}"]}, {"status": [going]},
                {"status": [f"http://hl7.org/fhir/encounter-status|{done}"]},
                {"status": ["cancelled"]}, {date: [f"ge{since}"]},
                {date: [f"lt{since}"], "status": [done]},
                {"_lastUpdated": [f"ge{since}"]},
                {"_id": [f"{everything[1]['id']},{everything[-1]['id'].upper()},nonsense"]}]
    for params in searches:
        expected = store.filter_resources(resource_type, everything, params)
        for offset, count in [(0, 50), (0, 0), (4, 3), *[(o, 2) for o in range(0, 7)]]:
            page, total = session_searches.search(
                db, resource_type, patient, Filters.parse(resource_type, params), offset, count)
            assert (page, total) == (expected[offset:offset + count], len(expected)), (
                params, offset, count)
    assert all(store.filter_resources(resource_type, everything, {"status": [status]})
               for status in (done, going)), "both statuses are met"
    statements.clear()
    response = api["nurse_a"].get(f"/fhir/{resource_type}", params={
        "patient": world.patients["p_a1"], "_count": "2"})
    assert [e["resource"] for e in response.json()["entry"]] == everything[:2]
    assert response.json()["total"] == len(everything)
    read = [s for s in statements if "from treatment_session " in s and " limit " in s]
    assert read, "the page's sessions are read by the page"


def test_following_next_cursors_walks_the_sorted_list_without_counting_down(
        api, world, db, monkeypatch) -> None:
    patient = history(api, world, db)
    everything = store.of_type(db, patient, "Observation")

    def no_counting(*args: Any) -> None:
        raise AssertionError("a page at a cursor starts there, not where a count finds it")

    for params in ({}, {"code": ["8867-4,moass"]}, {"category": ["vital-signs"]}):
        expected = store.filter_resources("Observation", everything, params)
        filters = Filters.parse("Observation", params)
        for newest_first in (True, False):
            ordered = sorted(expected, key=lambda r: datetime.fromisoformat(
                r["effectiveDateTime"]), reverse=newest_first)
            for count in (1, 4, 7):
                walked, cursor, offset = [], None, 0
                with monkeypatch.context() as patched:
                    patched.setattr(observations, "_sorted_start", no_counting)
                    while True:
                        found = observations.search_page(db, patient, filters, offset, count,
                                                         newest_first, cursor)
                        assert found.total == len(ordered)
                        walked += found.entries
                        if found.next_cursor is None:
                            break
                        cursor, offset = found.next_cursor, offset + count
                assert walked == ordered, (params, newest_first, count)


def test_the_api_gives_next_links_with_cursors_and_refuses_a_bad_one(api, world, db) -> None:
    patient = history(api, world, db)
    pid = str(patient.id)
    expected = sorted(store.of_type(db, patient, "Observation"), key=lambda r: datetime
                      .fromisoformat(r["effectiveDateTime"]), reverse=True)
    client = api["nurse_a"]
    url: str | None = f"/fhir/Observation?patient={pid}&_sort=-date&_count=9"
    walked, cursors = [], []
    while url:
        bundle = client.get(url).json()
        walked += [e["resource"] for e in bundle["entry"]]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert "_cursor" not in links.get("previous", "")
        assert ("_cursor=" in links["self"]) == bool(cursors)
        url = links.get("next")
        if url:
            assert "_cursor=" in url
            cursors.append(url)
            url = url[url.index("/fhir/"):]
    assert walked == expected and len(cursors) > 3
    cursor = cursors[0].split("_cursor=")[1]
    for params, field in (({"_sort": "-date", "_cursor": "not-a-cursor"}, "_cursor"),
                          ({"_sort": "date", "_cursor": cursor}, "_cursor"),
                          ({"_cursor": cursor}, "_cursor")):
        refused = client.get("/fhir/Observation", params={"patient": pid, **params})
        assert refused.status_code == 400, (params, refused.text)
        assert refused.json()["resourceType"] == "OperationOutcome" and field in refused.text
    listed = client.get("/fhir/metadata").json()["rest"][0]["resource"]
    offered = {p["name"] for r in listed if r["type"] == "Observation"
               for p in r["searchParam"]}
    assert {"_sort", "_cursor"} <= offered


def test_a_search_that_opens_its_patient_counts_in_the_same_statement(
        api, world, db, statements) -> None:
    # Given the patient still to open, a search opens them (reach checked, the read audited) and
    # counts what passes in one statement, and answers exactly as a search of the record does,
    # in the list's order and by date; a nurse of another site is refused, nothing audited.
    patient = history(api, world, db)
    nurse = Actor(username="nurse_a", role="nurse",
                  site_pks=frozenset(m.site_pk for m in patient.mrns))
    audited = select(func.count()).select_from(AuditEvent).where(
        AuditEvent.patient_id == str(patient.id), AuditEvent.detail == "a test's search")
    searches = [{}, {"code": ["8867-4,8310-5"]}, {"category": ["survey"]},
                {"date": [f"ge{(clock.now() - timedelta(days=25)).date().isoformat()}"]}]
    for params in searches:
        filters = Filters.parse("Observation", params)
        for newest_first in (None, False, True):
            for offset, count in ((0, 50), (3, 7), (40, 10)):
                statements.clear()
                expected = observations.search_page(db, patient, filters, offset, count,
                                                    newest_first)
                searching = len(statements)
                before = db.execute(audited).scalar_one()
                statements.clear()
                found = observations.search_page(
                    db, PatientToOpen(str(patient.id), nurse, "a test's search"), filters,
                    offset, count, newest_first)
                assert found == expected, (params, newest_first, offset)
                assert db.execute(audited).scalar_one() == before + 1
                # opening the patient costs no statement of its own: the first one counts
                assert "patient_mrn" in statements[0] and " counts" in statements[0]
                assert len([s for s in statements if "audit" not in s]) == searching, (
                    statements)  # the read's audit event aside
    elsewhere = Actor(username="nurse_b", role="nurse", site_pks=frozenset({-1}))
    before = db.execute(audited).scalar_one()
    for asked in (str(patient.id), "not-a-uuid"):
        with pytest.raises(OutOfReach):
            observations.search_page(db, PatientToOpen(asked, elsewhere, "a test's search"),
                                     Filters.parse("Observation", {}), 0, 50)
    assert db.execute(audited).scalar_one() == before


@contextmanager
def sent_with_pipeline(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """The statements sent meanwhile, each with the driver's pipeline status when sent (None
    where the driver has none)."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        pgconn = getattr(cursor.connection, "pgconn", None)
        sent.append((" ".join(statement.split()).lower(),
                     None if pgconn is None else pgconn.pipeline_status))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_page_reads_its_runs_together(api, world, db) -> None:
    # A first page that takes the chart's vital signs, the measures and the pregnancy and
    # breastfeeding observations reads them in one round trip on PostgreSQL (the driver's
    # pipeline), and builds the page as one by one does.
    patient = history(api, world, db)
    filters = Filters.parse("Observation", {})
    engine = db.get_bind()
    with sent_with_pipeline(engine) as sent:
        found = observations.search(db, patient, filters, 0, 50)
    expected = store.filter_resources("Observation", store.of_type(db, patient, "Observation"),
                                      {})
    assert found == (expected[:50], len(expected))
    kinds = {r["category"][0]["coding"][0]["code"] for r in found[0]}
    # the page spans the three runs of the chart
    assert kinds == {"vital-signs", "survey", "laboratory", "social-history"}
    page_reads = [status for statement, status in sent
                  if statement.startswith(("select vital_signs.pk", "select measure.id",
                                           "select status_observation.pk"))]
    assert len(page_reads) == 3
    on_postgresql = engine.dialect.name == "postgresql"
    assert set(page_reads) == {psycopg.pq.PipelineStatus.ON if on_postgresql else None}


def searched(db: Session, patient: Patient, everything: list[dict[str, Any]],
             params: dict[str, list[str]], offset: int, count: int
             ) -> tuple[Any, Any, list[tuple[str, Any]]]:
    """A search's page and total, the whole list filtered's, and the statements it sent."""
    expected = store.filter_resources("Observation", everything, params)
    with sent_with_pipeline(db.get_bind()) as sent:
        found = observations.search(db, patient, Filters.parse("Observation", params), offset,
                                    count)
    return found, (expected[offset:offset + count], len(expected)), sent


def assert_sent_together(db: Session, reads: list[tuple[str, Any]]) -> None:
    """On PostgreSQL, these statements went in one pipeline (where there are several)."""
    if db.get_bind().dialect.name == "postgresql" and len(reads) > 1:
        assert {status for _, status in reads} == {psycopg.pq.PipelineStatus.ON}, reads


def test_a_page_that_reaches_the_sessions_lists_them_in_one_statement(api, world, db) -> None:
    # A first page that runs on into the sessions' readings and scores lists the sessions with
    # their counts in one statement kept for reuse, then reads every run the page takes together
    # (one round trip on PostgreSQL), and answers as the whole list filtered does.
    patient = history(api, world, db)
    everything = store.of_type(db, patient, "Observation")
    for params in ({}, {"category": ["survey"]}, {"code": ["85354-9,moass"]}):
        found, expected, sent = searched(db, patient, everything, params, 0, 50)
        assert found == expected, params
        assert any("encounter" in r for r in found[0]), "the page reaches the sessions"
        _counts, listing, *page_reads = sent
        assert "from treatment_session" in listing[0] and "order by" in listing[0]
        assert not any("from treatment_session" in s for s, _ in page_reads), page_reads
        assert_sent_together(db, page_reads)
        assert observations._listed_sessions(Filters.parse("Observation", params)) is \
            observations._listed_sessions(Filters.parse("Observation", params))  # kept


def test_a_page_that_starts_inside_a_run_finds_its_start_in_the_statement_that_reads_it(
        api, world, db) -> None:
    # A page further down (inside the chart's rows or a session's readings) finds the row that
    # holds its first Observation in the same statement that reads the page's rows, kept for
    # reuse, and sent with the page's other runs (together, on PostgreSQL).
    patient = history(api, world, db)
    everything = store.of_type(db, patient, "Observation")
    for params in ({}, {"code": ["85354-9,8867-4"]}, {"date": ["ge2020-01-01"]}):
        for offset in range(1, len(store.filter_resources("Observation", everything, params)),
                            4):
            found, expected, sent = searched(db, patient, everything, params, offset, 6)
            assert found == expected, (params, offset)
            reads = [(s, status) for s, status in sent
                     if s.startswith(("select vital_signs.pk", "select session_reading.pk"))]
            starts = [s for s, _ in sent if " over (" in s]
            assert all(s in [r for r, _ in reads] for s in starts), (
                "the start is found by the statement that reads the page")
            assert_sent_together(db, reads)
    assert observations._from_row(Filters.parse("Observation", {}), observations.SessionReading) \
        is observations._from_row(Filters.parse("Observation", {}), observations.SessionReading)
