"""Pregnancy tests and statuses on the chart: screening a stored patient reads them as screening
an EHR's record does. A positive hCG imported from a referral, or a point-of-care test a nurse
charts before a session, was dropped ('not a vital sign') or had nowhere to go, so the chart
screened eligible where the same record sent through CDS Hooks gave the pregnancy caution."""

import html

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.patients.models import StatusObservation
from tests.conftest import csrf_of

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
TAKEN = "2026-11-20T09:30:00+00:00"


def _screen(api, pid: str, on: str = "2026-11-25") -> list[dict]:
    response = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations",
                                   json={"route": "iv", "on": on})
    assert response.status_code == 201, response.text
    return response.json()["findings"]


def _rules(findings: list[dict]) -> set[str]:
    return {f["rule"] for f in findings}


def _count(db: Session) -> int:
    return db.execute(select(func.count()).select_from(StatusObservation)).scalar_one()


def _hcg(pid: str, value: dict[str, object]) -> dict[str, object]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "2106-3",
                                 "display": "Choriogonadotropin (pregnancy test) [Presence] in Urine"}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": TAKEN, **value}


def _import(api, *resources: dict[str, object]):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"https://ehr.example.org/fhir/Observation/o{n}", "resource": r,
         "request": {"method": "POST", "url": "Observation"}} for n, r in enumerate(resources)]}
    return api["nurse_a"].post("/fhir", json=bundle)


def test_an_imported_positive_pregnancy_test_is_read_when_the_chart_is_screened(
        api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    assert "pregnancy" not in _rules(_screen(api, pid))
    positive = _hcg(pid, {"valueCodeableConcept": {"coding": [
        {"system": SNOMED, "code": "10828004", "display": "Positive"}]}})
    response = _import(api, positive)
    assert response.status_code == 200, response.text
    assert response.json()["entry"][0]["response"]["status"] == "201 Created"
    [finding] = [f for f in _screen(api, pid) if f["rule"] == "pregnancy"]
    assert "hCG test: Positive on 2026-11-20" in finding["evidence"][0]
    listed = api["nurse_a"].get(f"/api/v1/patients/{pid}/status-observations").json()
    assert [(o["code"], o["value_code"]) for o in listed] == [("2106-3", "10828004")]


def test_an_imported_answer_that_cannot_be_read_is_not_kept(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    before = _count(db)
    response = _import(api, _hcg(pid, {"valueString": "see scanned report"}))
    assert response.status_code == 200, response.text
    assert "the answer is not one the clinic reads" in response.json()["entry"][0][
        "response"]["outcome"]["issue"][0]["diagnostics"]
    assert _count(db) == before


def test_a_charted_test_counts_until_it_is_marked_in_error_or_a_later_one_says_no(
        api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    client = api["nurse_a"]
    created = client.post(f"/api/v1/patients/{pid}/status-observations",
                          json={"code": "2106-3", "answer": "yes", "taken_at": TAKEN})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["display"], body["value_text"], body["value_boolean"]) == (
        "hCG test, urine", "positive", True)
    assert "pregnancy" in _rules(_screen(api, pid))
    marked = client.post(f"/api/v1/patients/{pid}/status-observations/{body['id']}/"
                         "entered-in-error", json={"reason": "another patient's test"})
    assert marked.status_code == 200, marked.text
    assert "pregnancy" not in _rules(_screen(api, pid))
    for answer, taken in (("yes", TAKEN), ("no", "2026-11-22T09:00:00+00:00")):
        assert client.post(f"/api/v1/patients/{pid}/status-observations", json={
            "code": "82810-3", "answer": answer, "taken_at": taken}).status_code == 201
    assert "pregnancy" not in _rules(_screen(api, pid))
    assert "pregnancy" in _rules(_screen(api, pid, on="2026-11-21"))
    assert client.post(f"/api/v1/patients/{pid}/status-observations", json={
        "code": "63895-7", "answer": "yes", "taken_at": TAKEN}).status_code == 201
    assert "breastfeeding" in _rules(_screen(api, pid))


def test_bad_input_names_the_field_and_stores_nothing(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    before = _count(db)
    url = f"/api/v1/patients/{pid}/status-observations"
    unknown = api["nurse_a"].post(url, json={"code": "29463-7", "answer": "yes"})
    assert unknown.status_code == 422
    problem = unknown.json()
    assert "code" in str(problem) and "2106-3 (hCG test, urine)" in str(problem)
    for body, field in (({"code": "2106-3", "answer": "maybe"}, "answer"),
                        ({"code": "2106-3", "answer": "yes", "taken_at": "2099-01-01T00:00:00Z"},
                         "taken_at")):
        response = api["nurse_a"].post(url, json=body)
        assert response.status_code == 422 and field in response.text, response.text
    assert _count(db) == before


def test_only_the_patient_s_clinicians_may_chart_one(api, world, db: Session) -> None:
    body = {"code": "2106-3", "answer": "yes", "taken_at": TAKEN}
    own = world.patients["p_a1"]
    assert api["patient_a1"].post(f"/api/v1/patients/{own}/status-observations",
                                  json=body).status_code == 403
    other_site = world.patients["p_b1"]
    assert api["nurse_a"].post(f"/api/v1/patients/{other_site}/status-observations",
                               json=body).status_code in (403, 404)


def test_the_chart_records_and_lists_a_pregnancy_test(web, world, db: Session) -> None:
    client = web["nurse_a"]
    pid = world.patients["p_a1"]
    page = client.get(f"/patients/{pid}").text
    assert "No pregnancy tests or statuses recorded." in page
    csrf = csrf_of(page)
    before = _count(db)
    wrong = client.post(f"/patients/{pid}/entries/status-observations",
                        data={"csrf_token": csrf, "code": "1234-5", "answer": "yes"})
    assert wrong.status_code == 422
    assert "Nothing was saved" in wrong.text and "is not a pregnancy or breastfeeding" in \
        html.unescape(wrong.text)
    assert _count(db) == before
    saved = client.post(f"/patients/{pid}/entries/status-observations",
                        data={"csrf_token": csrf, "code": "2118-8", "answer": "no"},
                        follow_redirects=False)
    assert saved.status_code == 303 and _count(db) == before + 1
    chart = client.get(f"/patients/{pid}").text
    assert "hCG test, serum or plasma" in chart and '<td class="status-answer">negative</td>' in chart


def test_a_pregnancy_test_posted_as_fhir_is_kept_and_read_back(api, world, db: Session) -> None:
    """POST /fhir/Observation of a positive hCG answered 201 with where to read it; the resource
    read there is valid FHIR R4, and searches and $everything find it."""
    from fhir.resources.R4B import get_fhir_model_class

    pid = world.patients["p_a1"]
    positive = _hcg(pid, {"valueCodeableConcept": {"coding": [
        {"system": SNOMED, "code": "10828004", "display": "Positive"}]}})
    created = api["nurse_a"].post("/fhir/Observation", json=positive)
    assert created.status_code == 201, created.text
    location = created.headers["Location"].split("/fhir/", 1)[1]
    read = api["nurse_a"].get(f"/fhir/{location}").json()
    assert read == created.json()
    get_fhir_model_class("Observation").model_validate(read)
    assert read["category"][0]["coding"][0]["code"] == "laboratory"
    assert read["valueCodeableConcept"]["coding"][0]["code"] == "10828004"
    everything = api["nurse_a"].get(f"/fhir/Patient/{pid}/$everything").json()
    assert location in {f"{e['resource']['resourceType']}/{e['resource']['id']}"
                        for e in everything["entry"]}
    for params in ({"patient": pid, "code": "http://loinc.org|2106-3"},
                   {"patient": pid, "category": "laboratory"}, {"patient": pid, "_id": read["id"]}):
        found = api["nurse_a"].get("/fhir/Observation", params=params).json()
        assert [e["resource"] for e in found["entry"]] == [read], params
    charted = api["nurse_a"].post(f"/api/v1/patients/{pid}/status-observations",
                                  json={"code": "63895-7", "answer": "no", "taken_at": TAKEN})
    shown = api["nurse_a"].get(f"/fhir/Observation/{charted.json()['id']}").json()
    get_fhir_model_class("Observation").model_validate(shown)
    assert (shown["valueString"], shown["category"][0]["coding"][0]["code"]) == (
        "not breastfeeding", "social-history")
