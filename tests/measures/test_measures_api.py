"""Measures over the API: scoring, refusals, alerts to the prescriber, follow-up and escalation."""

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit.models import AuditEvent
from ketaclinic.kernel.actor import Actor
from ketaclinic.measures import alerts
from ketaclinic.measures.models import Measure, MeasureAlert, MeasureAnswer
from tests.treatments.test_ingest import signed_evaluation

PHQ9_ITEM9 = [1, 1, 1, 1, 1, 1, 1, 1, 1]


def _post(client, pid: str, instrument: str, answers: list, **extra):
    return client.post(f"/api/v1/patients/{pid}/measures",
                       json={"instrument": instrument, "answers": answers, **extra})


def test_phq9_is_scored_and_item_9_alerts_the_prescriber(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    signed_evaluation(api, pid)
    response = _post(api["nurse_a"], pid, "phq9", PHQ9_ITEM9)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["total"], body["band"], body["answers"]) == (9, "mild", PHQ9_ITEM9)
    [alert] = body["alerts"]
    assert alert["rule"] == "phq9-item9" and alert["severity"] == "same-day"
    assert alert["prescriber"] == "prescriber" and "SIMON-2013" in alert["source"]
    stored = db.execute(select(MeasureAnswer.value).where(MeasureAnswer.item_number == 9)).all()
    assert [v for (v,) in stored] == [1]  # item 9 stays queryable
    listed = api["prescriber"].get("/api/v1/alerts").json()
    assert [a["id"] for a in listed] == [alert["id"]]


def test_incomplete_or_off_scale_forms_are_refused_and_nothing_is_stored(api, world, db) -> None:
    pid = world.patients["p_a1"]
    incomplete = _post(api["nurse_a"], pid, "phq9", [1, 1, 1, None, 1, 1, 1, 1, 0])
    assert incomplete.status_code == 422
    assert incomplete.headers["content-type"].startswith("application/problem+json")
    problem = incomplete.json()
    assert problem["errors"][0]["field"] == "answers[3]" and "incomplete" in problem["errors"][0]["message"]
    off_scale = _post(api["nurse_a"], pid, "gad7", [0, 0, 0, 0, 0, 0, 9])
    assert off_scale.status_code == 422 and "0 to 3" in off_scale.text
    unknown = _post(api["nurse_a"], pid, "beck", [1])
    assert unknown.status_code == 422 and "phq9" in unknown.text
    future = _post(api["nurse_a"], pid, "pain", [3],
                   taken_at=(clock.now() + timedelta(days=1)).isoformat())
    assert future.status_code == 422 and "taken_at" in future.text
    assert db.execute(select(func.count()).select_from(Measure)).scalar_one() == 0
    assert db.execute(select(func.count()).select_from(MeasureAnswer)).scalar_one() == 0


def test_patients_record_only_their_own_self_report(api, world) -> None:
    own = _post(api["patient_a1"], world.patients["p_a1"], "gad7", [0, 1, 0, 1, 0, 1, 0])
    assert own.status_code == 201 and own.json()["source"] == "portal"
    other = _post(api["patient_a1"], world.patients["p_a2"], "gad7", [0] * 7)
    assert other.status_code == 404
    clinician_rated = _post(api["patient_a1"], world.patients["p_a1"], "madrs", [20])
    assert clinician_rated.status_code == 422 and "clinician" in clinician_rated.text
    assert api["frontdesk"].get(f"/api/v1/patients/{world.patients['p_a1']}/measures").status_code == 403


def test_rise_and_cssrs_alerts_with_severity_from_the_table(api, world) -> None:
    pid = world.patients["p_a2"]
    assert _post(api["nurse_a"], pid, "phq9", [1, 1, 1, 1, 0, 0, 0, 0, 0]).json()["alerts"] == []
    rise = _post(api["nurse_a"], pid, "phq9", [2, 2, 2, 1, 1, 1, 0, 0, 0]).json()
    assert [a["rule"] for a in rise["alerts"]] == ["phq9-rise"] and rise["alerts"][0]["severity"] == "review"
    high = _post(api["nurse_a"], pid, "cssrs", [1, 1, 0, 1, 0, 0, None]).json()
    assert high["risk_level"] == "high" and high["total"] is None
    assert [(a["rule"], a["severity"]) for a in high["alerts"]] == [("cssrs-high", "immediate")]
    severities = [a["severity"] for a in api["nurse_a"].get("/api/v1/alerts").json()]
    assert severities == ["immediate", "review"]


def test_follow_up_closes_the_alert_once_and_is_audited(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    [alert] = _post(api["nurse_a"], pid, "phq9", PHQ9_ITEM9).json()["alerts"]
    bad = api["prescriber"].post(f"/api/v1/alerts/{alert['id']}/follow-up",
                                 json={"action": "shrug", "note": "called"})
    assert bad.status_code == 422 and "safety-plan" in bad.text
    elsewhere = api["nurse_b"].post(f"/api/v1/alerts/{alert['id']}/follow-up",
                                    json={"action": "contacted", "note": "called her"})
    assert elsewhere.status_code == 404
    done = api["prescriber"].post(f"/api/v1/alerts/{alert['id']}/follow-up",
                                  json={"action": "contacted",
                                        "note": "Called; passive ideation, safety plan reviewed"})
    assert done.status_code == 200 and done.json()["closed_by"] == "prescriber"
    again = api["nurse_a"].post(f"/api/v1/alerts/{alert['id']}/follow-up",
                                json={"action": "contacted", "note": "again"})
    assert again.status_code == 409
    assert api["prescriber"].get("/api/v1/alerts").json() == []
    actions = db.execute(select(AuditEvent.action).where(AuditEvent.record_type == "MeasureAlert")
                         .order_by(AuditEvent.seq)).scalars().all()
    assert actions == ["alert", "follow-up"]


def test_unanswered_alerts_escalate_after_the_table_time(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    _post(api["nurse_a"], pid, "cssrs", [1, 1, 1, 0, 0, 0, None])  # moderate: same-day, 240 min
    system = Actor(username="cli:test", role="system")
    assert alerts.escalate_overdue(db=db, actor=system, now=clock.now() + timedelta(minutes=200)) == []
    escalated = alerts.escalate_overdue(db=db, actor=system, now=clock.now() + timedelta(minutes=241))
    assert [a.rule for a in escalated] == ["cssrs-moderate"]
    assert db.execute(select(MeasureAlert.escalated_at)).scalar_one() is not None
    assert db.execute(select(AuditEvent.detail).where(AuditEvent.action == "escalate")
                      ).scalar_one().endswith("notified prescriber")
