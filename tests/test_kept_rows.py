"""A statement kept for reuse, run on the driver's cursor (`kept_rows`), gives the rows SQLAlchemy
gives for it, converted the same way and named by the same keys, on either back end; the engine's
cursor events still see it, a driver error comes out as SQLAlchemy's, and what the short path does
not cover runs through SQLAlchemy. Statements read together (`kept_rows_together`) give each its
own rows, in one pipeline on PostgreSQL."""

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from sqlalchemy import bindparam, event, func, literal, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from ketaclinic import kept_rows as kept
from ketaclinic.audit import service as audit
from ketaclinic.audit.models import AuditEvent
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.db import column_rows
from ketaclinic.fhir import observations, patient_search, store
from ketaclinic.fhir.filters import Filters
from ketaclinic.kernel.actor import Actor
from ketaclinic.measures.models import Measure
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient, VitalSigns
from ketaclinic.patients.vitals_tally import TALLY

NURSE = Actor(username="nurse_a", role="nurse")
PK = bindparam("pk", type_=Patient.pk.type)
# A timestamp through its converter (UTC, aware), a UUID, a number the server sums to a decimal,
# a column and a label named alike, and a literal value compiled into the statement.
MIXED = (select(Patient.id, Patient.created_at, Patient.birth_date, VitalSigns.id,
                VitalSigns.weight_kg, func.sum(VitalSigns.heart_rate_bpm).over().label("beats"),
                literal("fixed").label("fixed"))
         .join(VitalSigns, VitalSigns.patient_pk == Patient.pk).where(Patient.pk == PK))
EVERY_FILTER = Filters.parse("Observation", {})
# values compiled into the statement as anonymous parameters
SINCE_2000 = Filters.parse("Observation", {"date": ["ge2000-01-01"], "code": ["8867-4"]})


def _kept_statements(patient_pk: int, patient_id: str) -> list[tuple[Any, dict[str, Any]]]:
    key = uuid.UUID(patient_id)
    return [(MIXED, {"pk": patient_pk}),
            (observations._counting(EVERY_FILTER), {"patient_pk": patient_pk}),
            (observations._head(EVERY_FILTER, VitalSigns), {"patient_pk": patient_pk, "take": 5}),
            (observations._measure_rows(EVERY_FILTER), {"patient_pk": patient_pk, "take": 5,
                                                        "skip": 0}),
            (observations._counting(SINCE_2000), {"patient_pk": patient_pk}),
            (observations._head(SINCE_2000, VitalSigns), {"patient_pk": patient_pk, "take": 5}),
            (patients._ID_AND_SITES_BY_ID, {"key": key}),
            (store._PATIENT, {"key": key}),
            (patients.DEMOGRAPHICS, {"key": key}),
            (select(TALLY).where(TALLY.c.patient_pk == PK), {"pk": patient_pk})]


def test_kept_rows_are_sqlalchemys_rows(db: Session, world: Any) -> None:
    patient = db.execute(select(Patient).where(
        Patient.id == uuid.UUID(world.patients["p_a1"]))).scalar_one()
    seen = 0
    for statement, params in _kept_statements(patient.pk, str(patient.id)):
        for _ in range(2):  # planned, then from its plan
            result = column_rows(db, statement, params)
            keys, expected = list(result.keys()), result.all()
            rows = kept.kept_rows(db, statement, params)
            assert [tuple(row) for row in rows] == [tuple(row) for row in expected], statement
            for row, like in zip(rows, expected, strict=True):
                for name in keys:
                    assert getattr(row, name) == getattr(like, name), name
                    assert type(getattr(row, name)) is type(getattr(like, name)), name
            seen += len(rows)
        assert kept._PLANS[statement][db.get_bind().dialect.name] is not None, statement
    assert seen > 10  # rows were compared, not two empty lists


def test_kept_statements_read_together_give_each_its_own_rows(db: Session, world: Any) -> None:
    # Every statement's rows, in order, as kept_rows gives them alone; on PostgreSQL all sent in
    # one pipeline (its status seen as each is sent), elsewhere one after another.
    patient = db.execute(select(Patient).where(
        Patient.id == uuid.UUID(world.patients["p_a1"]))).scalar_one()
    runs = _kept_statements(patient.pk, str(patient.id))
    alone = [[tuple(row) for row in kept.kept_rows(db, s, p)] for s, p in runs]
    statuses: list[Any] = []

    def record(conn: Any, cursor: Any, *args: Any) -> None:
        pgconn = getattr(cursor.connection, "pgconn", None)
        statuses.append(None if pgconn is None else pgconn.pipeline_status)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        together = kept.kept_rows_together(db, runs)
        pair = kept.kept_rows_together(db, runs[1:3])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert [[tuple(row) for row in rows] for rows in together] == alone
    assert [[tuple(row) for row in rows] for rows in pair] == alone[1:3]
    assert [row.id for row in together[6]] == [patient.id]  # named tuples, as alone
    assert sum(len(rows) for rows in alone) > 5  # rows were compared
    on_postgresql = engine.dialect.name == "postgresql"
    assert statuses == [psycopg.pq.PipelineStatus.ON if on_postgresql else None] * (
        len(runs) + 2)


def test_a_driver_error_among_statements_read_together_comes_out_as_sqlalchemys(
        db: Session, world: Any) -> None:
    if db.get_bind().dialect.name == "sqlite":
        pytest.skip("SQLite divides by zero into NULL rather than failing")
    runs = [(CHAIRS, {"site": 1}), (DIVIDING, {"zero": 0}), (CHAIRS, {"site": 1})]
    with pytest.raises(DBAPIError, match="division by zero"), db.begin_nested():
        kept.kept_rows_together(db, runs)
    # the connection left the pipeline: the session goes on reading
    assert kept.kept_rows_together(db, [(CHAIRS, {"site": 1}), (DIVIDING, {"zero": 1})])[1] \
        == [(1,)]


def test_the_engines_cursor_events_see_a_kept_statement(db: Session, world: Any) -> None:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        kept.kept_rows(db, patients._ID_AND_SITES_BY_ID, {"key": uuid.uuid4()})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len([s for s in seen if "patient_mrn" in s]) == 1, seen


def test_pending_changes_are_flushed_first(db: Session) -> None:
    site = db.execute(select(Site).order_by(Site.pk)).scalars().first()
    assert site is not None
    db.add(Chair(site_pk=site.pk, name="Chair by the door", created_by="test"))
    names = [row.name for row in kept.kept_rows(db, CHAIRS, {"site": site.pk})]
    assert "Chair by the door" in names


CHAIRS = select(Chair.name).where(Chair.site_pk == bindparam("site", type_=Chair.site_pk.type))


def test_a_missing_value_is_refused_as_sqlalchemy_refuses_it(db: Session) -> None:
    with pytest.raises(StatementError, match="site"):
        kept.kept_rows(db, CHAIRS, {})


def test_a_driver_error_comes_out_as_sqlalchemys(db: Session) -> None:
    if db.get_bind().dialect.name == "sqlite":
        pytest.skip("SQLite divides by zero into NULL rather than failing")
    with pytest.raises(DBAPIError, match="division by zero"), db.begin_nested():
        kept.kept_rows(db, DIVIDING, {"zero": 0})


DIVIDING = select((literal(1) / bindparam("zero", type_=Measure.pk.type)).label("never"))


def test_what_the_short_path_does_not_cover_runs_through_sqlalchemy(db: Session) -> None:
    expanded = select(Site.code).where(Site.pk.in_(bindparam("sites", expanding=True)))
    locking = select(Site.code).with_for_update()
    pks = [site.pk for site in db.execute(select(Site)).scalars()]
    assert sorted(r.code for r in kept.kept_rows(db, expanded, {"sites": pks})) == ["A", "B"]
    assert sorted(r.code for r in kept.kept_rows(db, locking)) == ["A", "B"]
    dialect = db.get_bind().dialect.name
    assert kept._PLANS[expanded][dialect] is None and kept._PLANS[locking][dialect] is None


def test_a_staff_patient_search_runs_from_its_plan_on_postgresql(db: Session, world: Any) -> None:
    """Its sites are one array parameter there, not a list expanded at every run."""
    dialect = db.get_bind().dialect.name
    page, count = patients._search_statements([], False, store.PATIENT_COLUMNS, dialect)
    sites = sorted(site.pk for site in db.execute(select(Site)).scalars())
    for reach in (sites, sites[:1], []):
        params = {"reach_sites": reach, "page_limit": 50, "page_offset": 0}
        for statement in (page, count):
            expected = [tuple(row) for row in column_rows(db, statement, params).all()]
            assert [tuple(row) for row in kept.kept_rows(db, statement, params)] == expected
        assert (len(expected[0]) == 1 and expected[0][0] > 0) or not reach
    assert (kept._PLANS[page][dialect] is not None) == (dialect == "postgresql")


@pytest.mark.parametrize("asked", [
    {"gender": ["male,female,other,unknown"]}, {"gender": ["female"]}, {"_id": ["ids"]},
    {"_id": ["first"]}, {"_id": ["ids"], "gender": ["other,female"]}])
def test_a_patient_search_by_lists_runs_from_its_plan_on_postgresql(
        db: Session, world: Any, asked: dict[str, list[str]]) -> None:
    """`_id` and `gender` lists are one array parameter each there, so the search's statements
    keep one text for any number of values; they find what SQLAlchemy's rows find."""
    dialect = db.get_bind().dialect.name
    everyone = list(db.execute(select(Patient.id, Patient.sex).order_by(Patient.pk)).all())
    ids = {"ids": ",".join(str(p.id) for p in everyone), "first": str(everyone[0].id)}
    params = {name: [ids.get(v, v) for v in values] for name, values in asked.items()}
    binds = patient_search.Binds(dialect)
    page, count = patients._search_statements(patient_search.conditions(params, binds), False,
                                              store.PATIENT_COLUMNS, dialect)
    sites = sorted(site.pk for site in db.execute(select(Site)).scalars())
    run = {**binds.values, "reach_sites": sites, "page_limit": 500, "page_offset": 0}
    rows = column_rows(db, page, run).all()
    expected = [tuple(row) for row in rows]
    assert [tuple(row) for row in kept.kept_rows(db, page, run)] == expected
    genders = set(params.get("gender", ["male,female,other,unknown"])[0].split(","))
    wanted = {p.id for p in everyone if p.sex in genders
              and (params.get("_id") is None or str(p.id) in params["_id"][0])}
    assert {row.id for row in rows} == wanted and wanted
    assert kept.kept_rows(db, count, run)[0][0] == len(wanted)
    assert (kept._PLANS[page][dialect] is not None) == (dialect == "postgresql")


def test_a_kept_write_stores_what_sqlalchemy_would_from_its_plan(db: Session) -> None:
    """The audit events a write inserts (PostgreSQL's statement by value): their values bound by
    the columns' own converters (a timestamp in UTC, an id), run on the driver's cursor."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the statement by value is PostgreSQL's (SQLite inserts the rows as they are)")
    events = [audit.new_event(actor=NURSE, action="create", record_type="Patient",
                              record_id=uuid.uuid4(), detail=f"kept write {n}") for n in range(2)]
    events[0].created_at = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    contexts: list[Any] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               many: bool) -> None:
        if "events_written" in statement:
            contexts.append(context)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        audit._insert_events(db.connection(), events)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert contexts == [None]  # from the plan, not an execution SQLAlchemy set up
    stored = {e.detail: e for e in db.execute(select(AuditEvent).where(
        AuditEvent.detail.startswith("kept write"))).scalars()}
    assert stored["kept write 0"].created_at == datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    assert [stored[e.detail].id for e in events] == [e.id for e in events]
    assert all(stored[e.detail].mac == audit.content_mac(stored[e.detail]) for e in events)


def test_a_driver_error_in_a_kept_write_comes_out_as_sqlalchemys(db: Session) -> None:
    failing = text("INSERT INTO site (pk) VALUES (:pk)").bindparams(
        bindparam("pk", type_=Site.pk.type))
    site = db.execute(select(Site)).scalars().first()
    assert site is not None
    with pytest.raises(IntegrityError), db.begin_nested():
        kept.kept_write(db.connection(), failing, {"pk": site.pk})
