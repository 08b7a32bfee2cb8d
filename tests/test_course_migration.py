"""Revision 0021 moves courses out of the evaluation: a database written by revision 0020 comes
through with every course, planned session and link to a course, and goes back again."""

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, MetaData

from ketaclinic import migrate
from ketaclinic.db import make_engine

PREVIOUS = "0020"
SIGNED_AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
PLAN = {"route": "iv", "indication": "depression", "maintenance": "every 2 to 4 weeks",
        "source": "protocol (test)", "closed_weekdays": ["sat", "sun"],
        "sessions": [{"number": n, "date": f"2026-11-{day:02d}", "weekday": weekday,
                      "week": week, "phase": "induction"}
                     for n, day, weekday, week in ((1, 3, "tue", 1), (2, 5, "thu", 1),
                                                   (3, 10, "tue", 2))]}
DOSE = {"route": "iv", "indication": "depression", "dose_mg": 35.0, "basis": "0.5 mg/kg x 70 kg",
        "source": "protocol (test)", "mg_per_kg": 0.5, "weight_kg": 70.0, "duration_min": 40}


def _filler(column: sa.Column[Any]) -> Any:
    """A value for a required column the test does not care about."""
    if isinstance(column.type, sa.Uuid):
        return uuid.uuid4()
    if column.name == "id":  # SQLite keeps a UUID as 32 hex digits
        return uuid.uuid4().hex
    kind = column.type.python_type if not isinstance(column.type, sa.JSON) else dict
    return {int: 1, float: 1.0, str: "x", bool: False, dict: {}, list: [],
            date: date(2026, 11, 1), datetime: SIGNED_AT}.get(kind, "x")


def _insert(conn: Connection, tables: MetaData, name: str, **values: Any) -> int:
    """Insert a row, filling the required columns not given; its key."""
    table = tables.tables[name]
    for column in table.columns:
        if column.name not in values and not column.nullable and column.name != "pk":
            values[column.name] = _filler(column)
    return int(conn.execute(table.insert().values(**values).returning(table.c.pk)).scalar_one())


def _seed_previous(conn: Connection) -> dict[str, int]:
    """A patient with a signed, planned course, a session given, a booked appointment, a measure
    and an end-of-induction review, as revision 0020 stored them; and a do-not-start evaluation."""
    tables = MetaData()
    tables.reflect(conn)
    network = _insert(conn, tables, "network")
    site = _insert(conn, tables, "site", network_pk=network, code="T1",
                   time_zone="America/Chicago")
    patient = _insert(conn, tables, "patient")
    _insert(conn, tables, "patient_mrn", patient_pk=patient, site_pk=site)
    chair = _insert(conn, tables, "chair", site_pk=site)
    started = _insert(conn, tables, "evaluation", patient_pk=patient, route="iv",
                      indication="depression", status="signed", signed_decision="start",
                      signed_by="dr.ada", signed_at=SIGNED_AT, dose=DOSE, plan=PLAN)
    refused = _insert(conn, tables, "evaluation", patient_pk=patient, route="im",
                      indication="depression", status="signed", signed_decision="do-not-start",
                      signed_by="dr.ada", signed_at=SIGNED_AT)
    session = _insert(conn, tables, "treatment_session", patient_pk=patient,
                      evaluation_pk=started, site_pk=site, chair_pk=chair, route="iv",
                      status="discharged", dose_start=datetime(2026, 11, 4, 15, tzinfo=UTC))
    booked = _insert(conn, tables, "appointment", site_pk=site, patient_pk=patient,
                     evaluation_pk=started, chair_pk=chair, kind="iv", course_session=2)
    visit = _insert(conn, tables, "appointment", site_pk=site, patient_pk=patient, kind="follow-up")
    measure = _insert(conn, tables, "measure", patient_pk=patient, site_pk=site,
                      course_pk=started, instrument="phq9")
    review = _insert(conn, tables, "course_review", course_pk=started, decision="extend",
                     created_at=datetime(2026, 11, 20, 15, tzinfo=UTC))
    return {"started": started, "refused": refused, "session": session, "booked": booked,
            "visit": visit, "measure": measure, "review": review}


def test_courses_move_out_of_the_evaluation_and_back(empty_database: str) -> None:
    engine = make_engine(empty_database)
    migrate.upgrade(engine, PREVIOUS)
    with engine.begin() as conn:
        keys = _seed_previous(conn)

    migrate.upgrade(engine)

    with engine.connect() as conn:
        course = conn.execute(sa.text(
            "SELECT pk, evaluation_pk, state, prescriber, dose, plan_source, maintenance "
            "FROM course")).mappings().all()
        assert len(course) == 1, "a course for the evaluation signed to start, none for the other"
        (only,) = course
        assert only["evaluation_pk"] == keys["started"] and only["prescriber"] == "dr.ada"
        dose = only["dose"] if isinstance(only["dose"], dict) else json.loads(
            only["dose"])
        assert dose == DOSE
        assert (only["plan_source"], only["maintenance"]) == (PLAN["source"], PLAN["maintenance"])
        planned = conn.execute(sa.text(
            "SELECT number, phase, week, planned_on FROM planned_session WHERE course_pk = :c "
            "ORDER BY number"), {"c": only["pk"]}).all()
        assert [(n, p, w, str(d)) for n, p, w, d in planned] == [
            (s["number"], s["phase"], s["week"], s["date"]) for s in PLAN["sessions"]]
        history = conn.execute(sa.text(
            "SELECT from_state, to_state FROM course_transition WHERE course_pk = :c "
            "ORDER BY at"), {"c": only["pk"]}).all()
        assert [tuple(h) for h in history] == [(None, "planned"), ("planned", "induction"),
                                                ("induction", "extended")]
        assert only["state"] == "extended"
        course_of = {
            "treatment_session": conn.execute(sa.text(
                "SELECT course_pk FROM treatment_session WHERE pk = :k"),
                {"k": keys["session"]}).scalar(),
            "appointment": conn.execute(sa.text(
                "SELECT course_pk FROM appointment WHERE pk = :k"), {"k": keys["booked"]}).scalar(),
            "measure": conn.execute(sa.text(
                "SELECT course_pk FROM measure WHERE pk = :k"), {"k": keys["measure"]}).scalar(),
            "course_review": conn.execute(sa.text(
                "SELECT course_pk FROM course_review WHERE pk = :k"), {"k": keys["review"]}
            ).scalar()}
        assert course_of == dict.fromkeys(course_of, only["pk"])
        assert conn.execute(sa.text("SELECT course_pk FROM appointment WHERE pk = :k"),
                            {"k": keys["visit"]}).scalar() is None
        columns = {c["name"] for c in sa.inspect(conn).get_columns("evaluation")}
        assert not {"dose", "plan"} & columns
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text("DELETE FROM course"))

    migrate.downgrade(engine, PREVIOUS)

    with engine.connect() as conn:
        back = conn.execute(sa.text("SELECT dose, plan FROM evaluation WHERE pk = :k"),
                            {"k": keys["started"]}).one()
        loaded = [v if isinstance(v, dict) else json.loads(v) for v in back]
        assert loaded == [DOSE, PLAN]
        assert conn.execute(sa.text("SELECT evaluation_pk FROM treatment_session WHERE pk = :k"),
                            {"k": keys["session"]}).scalar() == keys["started"]
        assert conn.execute(sa.text("SELECT course_pk FROM measure WHERE pk = :k"),
                            {"k": keys["measure"]}).scalar() == keys["started"]
    engine.dispose()
