"""Every clinical time in a plausible window: readings and answers are not dated before the
patient was born (nor session readings long before the check-in), no appointment is booked
years ahead, and a patient's own answers carry the server's time."""

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.measures.models import Measure
from tests.treatments.test_ingest import open_session

LONG_AGO = datetime(1, 1, 1, tzinfo=UTC).isoformat()


def test_readings_and_answers_from_year_one_are_refused(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    chart = api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals",
                                json={"systolic_mmhg": 120, "diastolic_mmhg": 80,
                                      "measured_at": LONG_AGO})
    assert chart.status_code == 422 and chart.json()["errors"][0]["field"] == "measured_at"
    session = open_session(api, db, pid)
    chair = api["nurse_a"].post(f"/api/v1/treatment-sessions/{session}/vitals", json={
        "readings": [{"systolic_mmhg": 120, "taken_at": LONG_AGO}]})
    assert chair.status_code == 422 and "taken_at" in chair.text
    yesterday = (clock.now() - timedelta(days=2)).isoformat()
    stale = api["nurse_a"].post(f"/api/v1/treatment-sessions/{session}/vitals", json={
        "readings": [{"systolic_mmhg": 120, "taken_at": yesterday}]})
    assert stale.status_code == 422 and "before the check-in" in stale.text
    answers = api["nurse_a"].post(f"/api/v1/patients/{pid}/measures", json={
        "instrument": "pain", "answers": [3], "taken_at": LONG_AGO})
    assert answers.status_code == 422 and answers.json()["errors"][0]["field"] == "taken_at"


def test_a_patient_cannot_backdate_their_own_answers(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    backdated = datetime(2020, 1, 6, 9, tzinfo=UTC).isoformat()
    own = api["patient_a1"].post(f"/api/v1/patients/{pid}/measures", json={
        "instrument": "gad7", "answers": [0, 1, 0, 1, 0, 1, 0], "taken_at": backdated})
    assert own.status_code == 201
    stored = db.execute(select(Measure.taken_at).order_by(Measure.pk.desc()).limit(1)).scalar_one()
    assert abs(stored - clock.now()) < timedelta(minutes=1)


def test_no_appointment_is_booked_years_ahead(db: Session, world) -> None:
    import pytest

    from ketaclinic.errors import Conflict
    from ketaclinic.scheduling import booking
    from tests.scheduling.helpers import DESK, NEW_YORK, a_monday_ahead, course, staffed_site

    site = staffed_site(db)
    _, patient = course(db, "iv", a_monday_ahead())
    far = datetime.combine(a_monday_ahead() + timedelta(days=7 * 150), time(9), tzinfo=NEW_YORK)
    with pytest.raises(Conflict, match="more than 730 days ahead"):
        booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=far, actor=DESK)
