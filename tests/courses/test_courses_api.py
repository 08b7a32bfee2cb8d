"""A course can be read with where it stands and how it got there; the dose given moves it on."""

from sqlalchemy.orm import Session

from tests.conftest import csrf_of
from tests.treatments.test_ingest import chair_id, signed_evaluation


def test_a_signed_course_is_planned_then_in_induction_after_the_first_dose(
        api, web, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    evaluation = signed_evaluation(api, pid)
    planned = api["nurse_a"].get(f"/api/v1/patients/{pid}/courses/{evaluation}")
    assert planned.status_code == 200, planned.text
    body = planned.json()
    assert body["state"] == "planned" and body["prescriber"] == "prescriber"
    assert [t["to_state"] for t in body["transitions"]] == ["planned"]
    assert body["dose"]["dose_mg"] > 0
    assert [c["id"] for c in api["nurse_a"].get(f"/api/v1/patients/{pid}/courses").json()] == [
        evaluation]
    session = api["nurse_a"].post(f"/api/v1/patients/{pid}/treatment-sessions", json={
        "evaluation_id": evaluation, "chair_id": chair_id(db, "A1")}).json()["id"]
    nurse = web["nurse_a"]
    url = f"/treatment-sessions/{session}"
    csrf = csrf_of(nurse.get(url).text)
    api["nurse_a"].post(f"/api/v1/patients/{pid}/consents", json={})
    nurse.post(f"{url}/vitals", data={"csrf_token": csrf, "systolic_mmhg": "126",
                                      "diastolic_mmhg": "80"})
    nurse.post(f"{url}/checks", data={"csrf_token": csrf, "check.identity": "on",
                                      "check.escort": "on", "check.pregnancy-status": "on"})
    dosed = nurse.post(f"{url}/dose/start", data={
        "csrf_token": csrf, "dose_mg": str(body["dose"]["dose_mg"]), "lot_number": "K1",
        "ordered_by": "prescriber"}, follow_redirects=False)
    assert dosed.status_code == 303, dosed.text[-500:]
    after = api["nurse_a"].get(f"/api/v1/patients/{pid}/courses/{evaluation}").json()
    assert after["state"] == "induction"
    assert [(t["from_state"], t["to_state"], t["reason"]) for t in after["transitions"]] == [
        (None, "planned", "signed to start"), ("planned", "induction", "first dose given")]
    page = nurse.get(f"/patients/{pid}/evaluations/{evaluation}").text
    assert 'id="course-state"' in page and "induction" in page and "first dose given" in page


def test_courses_out_of_reach_or_unknown_are_404(api, world) -> None:
    other = world.patients["p_b1"]
    assert api["nurse_a"].get(f"/api/v1/patients/{other}/courses").status_code == 404
    pid = world.patients["p_a1"]
    assert api["nurse_a"].get(f"/api/v1/patients/{pid}/courses/not-a-uuid").status_code == 404
    assert api["frontdesk"].get(f"/api/v1/patients/{pid}/courses").status_code == 403
