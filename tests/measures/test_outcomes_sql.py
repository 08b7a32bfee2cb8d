"""Outcome rates computed in SQL match a hand count, on both backends."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.clinics.models import Site
from ketaclinic.measures import outcomes
from tests.treatments.test_ingest import signed_evaluation


def phq9(total: int) -> list[int]:
    return [min(3, max(0, total - 3 * i)) for i in range(9)]


def record(api, pid: str, totals: list[int], start_days_ago: int = 30) -> None:
    for n, total in enumerate(totals):
        moment = clock.now() - timedelta(days=start_days_ago - 7 * n)
        response = api["nurse_a"].post(f"/api/v1/patients/{pid}/measures", json={
            "instrument": "phq9", "answers": phq9(total), "taken_at": moment.isoformat()})
        assert response.status_code == 201, response.text


def test_rates_times_and_lost_responses(api, world, db: Session) -> None:
    site_a = db.execute(select(Site.pk).where(Site.code == "A")).scalar_one()
    a1, a2 = world.patients["p_a1"], world.patients["p_a2"]
    signed_evaluation(api, a1)
    signed_evaluation(api, a2)
    record(api, a1, [20, 12, 4])  # response at day 14, remission at the latest
    record(api, a2, [20, 9, 15])  # responded at day 7, lost at day 14
    [row] = outcomes.compute(db=db, site_pks={site_a})
    assert (row.route, row.indication, row.instrument, row.courses) == ("iv", "depression", "phq9", 2)
    assert (row.response.count, row.remission.count) == (1, 1)
    assert row.mean_days_to_response == 10.5  # (14 + 7) / 2
    assert (row.responses_lost.count, row.responses_lost.total) == (1, 2)
    assert row.mean_days_response_lasted == 7.0
    assert row.response.interval[0] < 50 < row.response.interval[1]
    assert [b["source"] for b in row.benchmarks] == ["MURROUGH-2013", "ELEKT-D", "ORKA-1"]
    later = outcomes.compute(db=db, site_pks={site_a}, since=clock.now() - timedelta(days=25))
    assert [r.courses for r in later] == [2]  # the two later measures of each course
    assert outcomes.compute(db=db, site_pks={site_a}, since=clock.now() + timedelta(days=1)) == []
    # The baseline is each course's first measure even when it falls before the range.
    [recent] = outcomes.compute(db=db, site_pks={site_a}, since=clock.now() - timedelta(days=20))
    assert recent.courses == 2 and (recent.response.count, recent.remission.count) == (1, 1)


def test_an_instrument_without_a_remission_line_shows_no_remission_rate(api, web, world, db
                                                                     ) -> None:
    site_a = db.execute(select(Site.pk).where(Site.code == "A")).scalar_one()
    pid = world.patients["p_a1"]
    response = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations",
                                   json={"route": "iv", "indication": "ptsd"})
    api["prescriber"].post(f"/api/v1/patients/{pid}/evaluations/{response.json()['id']}/sign",
                           json={"decision": "start"})
    for n, total in enumerate([50, 38]):
        moment = clock.now() - timedelta(days=20 - 7 * n)
        assert api["nurse_a"].post(f"/api/v1/patients/{pid}/measures", json={
            "instrument": "pcl5", "answers": [min(4, max(0, total - 4 * i)) for i in range(20)],
            "taken_at": moment.isoformat()}).status_code == 201
    [row] = outcomes.compute(db=db, site_pks={site_a})
    assert row.instrument == "pcl5" and row.remission is None and row.response.count == 1
    page = web["prescriber"].get("/outcomes")
    assert "no remission line for pcl5" in page.text


def test_a_course_without_a_score_before_its_first_dose_is_not_counted(api, world,
                                                                         db: Session) -> None:
    """Its first score came after treatment began: a response judged from it would be
    understated, so it counts neither way, with or without a date range."""
    import uuid

    from ketaclinic.clinics.models import Chair
    from ketaclinic.courses.models import Course
    from ketaclinic.patients.models import Patient
    from ketaclinic.treatments.models import TreatmentSession

    site_a = db.execute(select(Site.pk).where(Site.code == "A")).scalar_one()
    a1, a2 = world.patients["p_a1"], world.patients["p_a2"]
    signed_evaluation(api, a1)
    signed_evaluation(api, a2)
    record(api, a1, [20, 12, 4])
    record(api, a2, [9, 8, 8])  # a non-responder from 9, had 9 been a baseline
    late = db.execute(select(Course).join(Patient, Patient.pk == Course.patient_pk).where(
        Patient.id == uuid.UUID(a2))).scalar_one()
    chair = db.execute(select(Chair).where(Chair.site_pk == site_a)).scalars().first()
    dosed = clock.now() - timedelta(days=31)  # the day before its first score
    db.add(TreatmentSession(patient_pk=late.patient_pk, course_pk=late.pk, site_pk=site_a,
                            chair_pk=chair.pk, route="iv", status="discharged",
                            checked_in_at=dosed, dose_start=dosed, created_by="test"))
    db.flush()
    [row] = outcomes.compute(db=db, site_pks={site_a})
    assert (row.courses, row.response.count) == (1, 1)
    [ranged] = outcomes.compute(db=db, site_pks={site_a}, since=clock.now() - timedelta(days=60))
    assert (ranged.courses, ranged.response.count) == (1, 1)
