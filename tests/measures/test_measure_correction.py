"""A wrong questionnaire is corrected, never deleted: marked entered-in-error with the reason, it
leaves the lists, charts and the course's outcome summary; the row and the audit stay."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.measures.models import CourseOutcome, Measure
from tests.conftest import csrf_of
from tests.measures.test_measures_api import _post
from tests.treatments.test_ingest import signed_evaluation

HIGH = [3, 3, 3, 3, 3, 3, 2, 2, 0]  # PHQ-9 22, item 9 zero
LOW = [1, 1, 1, 1, 1, 0, 0, 0, 0]  # PHQ-9 5


def test_a_nurse_marks_a_wrong_phq9_entered_in_error(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    signed_evaluation(api, pid)  # a course, so the measures have a summary
    first = _post(api["nurse_a"], pid, "phq9", HIGH).json()
    wrong = _post(api["nurse_a"], pid, "phq9", LOW).json()
    summary = db.execute(select(CourseOutcome)).scalars().first()
    assert summary is not None and summary.latest == 5
    url = f"/api/v1/patients/{pid}/measures/{wrong['id']}/entered-in-error"
    marked = api["nurse_a"].post(url, json={"reason": "Another patient's form"})
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "entered-in-error"
    listed = api["nurse_a"].get(f"/api/v1/patients/{pid}/measures").json()
    assert [m["id"] for m in listed] == [first["id"]]
    db.expire_all()
    summary = db.execute(select(CourseOutcome)).scalars().first()
    assert summary is not None and summary.latest == summary.baseline == 22
    row = db.execute(select(Measure).where(Measure.total == 5)).scalar_one()
    assert (row.error_reason, row.error_marked_by) == ("Another patient's form", "nurse_a")
    audit = db.execute(select(AuditEvent).where(AuditEvent.action == "entered-in-error",
                                                AuditEvent.record_type == "Measure")).scalar_one()
    assert audit.patient_id == pid and "Another patient's form" in audit.detail
    assert api["nurse_a"].post(url, json={"reason": "again"}).status_code == 409


def test_bad_corrections_are_refused_and_change_nothing(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    measure = _post(api["nurse_a"], pid, "phq9", LOW).json()
    url = f"/api/v1/patients/{pid}/measures/{measure['id']}/entered-in-error"
    short = api["nurse_a"].post(url, json={"reason": "x"})
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "reason"
    assert api["nurse_b"].post(url, json={"reason": "not my site"}).status_code == 404
    assert api["patient_a1"].post(url, json={"reason": "I want it gone"}).status_code == 403
    other = f"/api/v1/patients/{world.patients['p_a2']}/measures/{measure['id']}/entered-in-error"
    assert api["nurse_a"].post(other, json={"reason": "wrong patient id"}).status_code == 404
    assert db.execute(select(Measure.status)).scalars().all() == ["final"]


def test_the_measures_page_marks_one_and_shows_who_and_why(api, web, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    measure = _post(api["nurse_a"], pid, "phq9", LOW).json()
    page = web["nurse_a"].get(f"/patients/{pid}/measures")
    assert "Entered in error?" in page.text
    refused = web["nurse_a"].post(f"/patients/{pid}/measures/{measure['id']}/entered-in-error",
                                  data={"csrf_token": csrf_of(page.text), "reason": ""})
    assert refused.status_code == 422 and "Reason" in refused.text
    done = web["nurse_a"].post(f"/patients/{pid}/measures/{measure['id']}/entered-in-error",
                               data={"csrf_token": csrf_of(page.text), "reason": "Typed twice"},
                               follow_redirects=False)
    assert done.status_code == 303
    shown = web["nurse_a"].get(f"/patients/{pid}/measures").text
    assert "entered in error by nurse_a: Typed twice" in shown
    own = web["patient_a1"].get(f"/patients/{pid}/measures")
    assert own.status_code == 200 and "Entered in error?" not in own.text
