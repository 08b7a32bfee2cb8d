"""The FHIR R4 face: capability statement, read, search with paging, $everything, access."""

from datetime import date, datetime, timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select

from ketaclinic import clock
from ketaclinic.audit.models import AuditEvent
from tests.treatments.test_ingest import open_session


def valid(resource: dict) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_capability_statement_is_public_and_valid(anon) -> None:
    response = anon.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    valid(body)
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert {"Patient", "Observation", "QuestionnaireResponse", "Encounter"} <= types


def test_unauthenticated_requests_get_401_operation_outcome(anon, world) -> None:
    response = anon.get(f"/fhir/Patient/{world.patients['p_a1']}")
    assert response.status_code == 401 and response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "login"


def test_search_patients_by_name_and_read(api, world) -> None:
    bundle = api["prescriber"].get("/fhir/Patient", params={"name": "testp_a1"}).json()
    valid(bundle)
    assert bundle["total"] == 1
    patient = bundle["entry"][0]["resource"]
    assert patient["id"] == world.patients["p_a1"] and patient["identifier"][0]["value"].startswith("A")
    again = api["prescriber"].get(f"/fhir/Patient/{patient['id']}").json()
    assert again["name"] == patient["name"]


def test_vital_signs_observations_by_code_and_date_with_paging(api, world) -> None:
    pid = world.patients["p_a1"]
    for days in (40, 20, 10):
        api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={
            "systolic_mmhg": 130 + days, "diastolic_mmhg": 80, "heart_rate_bpm": 70,
            "measured_at": (clock.now() - timedelta(days=days)).isoformat()})
    since = (clock.now() - timedelta(days=30)).date().isoformat()
    first = api["nurse_a"].get("/fhir/Observation", params={
        "patient": f"Patient/{pid}", "code": "http://loinc.org|85354-9", "date": f"ge{since}",
        "_count": "1"}).json()
    valid(first)
    assert first["total"] == 3  # two of the three posted plus the seeded set (taken now)
    panel = first["entry"][0]["resource"]
    assert [c["code"]["coding"][0]["code"] for c in panel["component"]] == ["8480-6", "8462-4"]
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = api["nurse_a"].get(following.replace("https://testserver", "")).json()
    assert second["entry"][0]["resource"]["id"] != panel["id"]
    bad = api["nurse_a"].get("/fhir/Observation", params={"patient": pid, "date": "ge-yesterday"})
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["date"]
    unknown = api["nurse_a"].get("/fhir/Observation", params={"patient": pid, "colour": "red"})
    assert unknown.status_code == 400 and "colour" in unknown.text
    assert unknown.json()["resourceType"] == "OperationOutcome"  # a search it cannot run


def test_everything_validates_and_holds_sessions_doses_and_measures(api, world, db) -> None:
    pid = world.patients["p_a1"]
    session_id = open_session(api, db, pid)
    api["nurse_a"].post(f"/api/v1/patients/{pid}/measures",
                        json={"instrument": "phq9", "answers": [1, 1, 1, 1, 1, 1, 1, 1, 0]})
    bundle = api["prescriber"].get(f"/fhir/Patient/{pid}/$everything").json()
    valid(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    for resource in resources:
        valid(resource)
    kinds = {r["resourceType"] for r in resources}
    assert {"Patient", "Condition", "Observation", "QuestionnaireResponse", "Encounter"} <= kinds
    assert any(r["resourceType"] == "Encounter" and r["id"] == session_id for r in resources)
    totals = [r for r in resources if r["resourceType"] == "Observation"
              and r["code"]["coding"][0]["code"] == "44261-6"]
    assert totals[0]["valueInteger"] == 8


def test_every_resource_of_a_compartment_reads_back_the_same_by_id(api, world, db) -> None:
    # a read builds the one resource from its own row; it must be what the compartment shows
    pid = world.patients["p_a1"]
    session_id = open_session(api, db, pid)
    api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/vitals", json={"readings": [
        {"systolic_mmhg": 150, "diastolic_mmhg": 90, "spo2_pct": 97, "heart_rate_bpm": 80}]})
    api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/events",
                        json={"kind": "moass", "value": 4})
    api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={
        "systolic_mmhg": 131, "diastolic_mmhg": 84, "weight_kg": 80, "height_cm": 180})
    api["nurse_a"].post(f"/api/v1/patients/{pid}/measures",
                        json={"instrument": "phq9", "answers": [1] * 9})
    api["nurse_a"].post(f"/api/v1/patients/{pid}/medications", json={
        "system": "rxnorm", "code": "6470", "display": "lorazepam", "dose_value": 1,
        "dose_unit": "mg", "frequency": "twice daily", "start_date": "2025-01-01"})
    api["nurse_a"].post(f"/api/v1/patients/{pid}/allergies", json={
        "system": "rxnorm", "code": "3322", "display": "diazepam", "reaction": "rash"})
    bundle = api["prescriber"].get(f"/fhir/Patient/{pid}/$everything").json()
    resources = [e["resource"] for e in bundle["entry"]]
    assert {"Patient", "Condition", "Observation", "QuestionnaireResponse", "Encounter",
            "MedicationStatement", "AllergyIntolerance"} <= {r["resourceType"] for r in resources}
    for resource in resources:
        kind, rid = resource["resourceType"], resource["id"]
        read = api["prescriber"].get(f"/fhir/{kind}/{rid}")
        assert read.status_code == 200, (kind, rid, read.text)
        assert read.json() == resource, (kind, rid)
        # the patient's reach comes with the row: staff of another site find nothing
        assert api["nurse_b"].get(f"/fhir/{kind}/{rid}").status_code == 404, (kind, rid)
    reads = db.execute(select(AuditEvent.detail).where(
        AuditEvent.action == "read", AuditEvent.created_by == "prescriber",
        AuditEvent.patient_id == pid)).scalars().all()
    assert {f"FHIR read {r['resourceType']}" for r in resources
            if r["resourceType"] != "Patient"} <= set(reads)
    missing = api["prescriber"].get(f"/fhir/Observation/{pid}-no-such-suffix")
    assert missing.status_code == 404


def test_observation_search_pages_match_the_full_list_filtered(api, world, db) -> None:
    # the search counts light entries and builds only its page: same matches, same order
    import uuid

    from sqlalchemy import select

    from ketaclinic.fhir import observations, store
    from ketaclinic.fhir.filters import Filters
    from ketaclinic.kernel.actor import Actor
    from ketaclinic.knowledge.monitoring import Reading
    from ketaclinic.patients.models import Patient
    from ketaclinic.treatments import service as treatments
    from ketaclinic.treatments.models import TreatmentSession

    pid = world.patients["p_a1"]
    session_id = open_session(api, db, pid)
    for i in range(3):
        api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/vitals", json={
            "readings": [{"systolic_mmhg": 150 + i, "diastolic_mmhg": 90, "spo2_pct": 97}]})
    api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/vitals", json={
        "readings": [{"heart_rate_bpm": 88}, {"spo2_pct": 95, "respiratory_rate_per_min": 14}]})
    api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/events",
                        json={"kind": "moass", "value": 4})
    at_chair = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    treatments.store_readings(  # from a bedside monitor: its Observations name the device
        db=db, treatment_session=at_chair, chair_pk=at_chair.chair_pk,
        readings=[Reading(clock.now(), heart_rate_bpm=91, spo2_pct=96)], source="monitor",
        actor=Actor(username="system", role="system"), device="MX450 chair A1")
    db.commit()
    for days in (40, 20, 10):
        api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={
            "systolic_mmhg": 130 + days, "diastolic_mmhg": 80, "heart_rate_bpm": 70,
            "weight_kg": 80, "measured_at": (clock.now() - timedelta(days=days)).isoformat()})
    api["nurse_a"].post(f"/api/v1/patients/{pid}/measures",
                        json={"instrument": "phq9", "answers": [1] * 9})
    for days, instrument, answers in ((30, "gad7", [2] * 7), (12, "phq9", [2] * 9),
                                      (5, "gad7", [0] * 7)):
        made = api["nurse_a"].post(f"/api/v1/patients/{pid}/measures", json={
            "instrument": instrument, "answers": answers,
            "taken_at": (clock.now() - timedelta(days=days)).isoformat()})
        assert made.status_code == 201, made.text
    wrong = made.json()["id"]  # measures entered in error stay in the list, marked so
    assert api["nurse_a"].post(f"/api/v1/patients/{pid}/measures/{wrong}/entered-in-error",
                               json={"reason": "typed for the wrong patient"}).status_code == 200
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    everything = store.of_type(db, patient, "Observation")
    since = (clock.now() - timedelta(days=15)).date().isoformat()
    searches = [{}, {"code": ["http://loinc.org|85354-9"]}, {"code": ["8867-4,59408-5"]},
                {"code": ["44261-6"]}, {"code": ["http://loinc.org|70274-6,44261-6"]},
                {"category": ["survey"]}, {"category": ["vital-signs"], "code": ["44261-6"]},
                {"code": ["moass"]}, {"date": [f"ge{since}"]},
                {"date": [f"lt{since}"], "code": ["29463-7"]},
                {"_lastUpdated": [f"ge{since}"]}, {"_id": [everything[1]["id"]]}]
    for params in searches:
        expected = store.filter_resources("Observation", everything, params)
        pages = [(0, 50), *[(o, c) for o in range(0, len(expected) + 1, 2) for c in (1, 4)]]
        for offset, count in pages:
            page, total = observations.search(db, patient, Filters.parse("Observation", params),
                                              offset, count)
            assert total == len(expected), params
            assert page == expected[offset:offset + count], (params, offset, count)
    assert len(everything) > 12
    assert sum(r.get("device") == {"display": "MX450 chair A1"} for r in everything) == 2
    for params in searches[:-1]:  # sorted by date: ties keep the list's order
        expected = store.filter_resources("Observation", everything, params)
        for newest_first in (False, True):
            ordered = sorted(expected, key=lambda r: datetime.fromisoformat(
                r["effectiveDateTime"]), reverse=newest_first)
            pages = [(0, 50), (len(ordered) - 1, 3),
                     *[(o, c) for o in range(0, len(ordered) + 1, 2) for c in (1, 4)]]
            for offset, count in pages:
                page, total = observations.search(db, patient, Filters.parse(
                    "Observation", params), offset, count, newest_first)
                assert total == len(expected), params
                assert page == ordered[offset:offset + count], (params, newest_first, offset)


def test_a_deep_observation_page_builds_its_own_rows_alone(api, world, db, monkeypatch) -> None:
    import uuid

    from sqlalchemy import select

    from ketaclinic.fhir import mapping, observations, store
    from ketaclinic.fhir.filters import Filters
    from ketaclinic.patients.models import Patient

    pid = world.patients["p_a2"]
    for days in range(30):  # a blood pressure and a heart rate each: 60 Observations
        made = api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={
            "systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 60 + days,
            "measured_at": (clock.now() - timedelta(days=40 - days)).isoformat()})
        assert made.status_code == 201, made.text
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    everything = store.of_type(db, patient, "Observation")
    built = []
    counting = mapping.vital_observations

    def vital_observations(row, patient_id):
        built.append(row.pk)
        return counting(row, patient_id)

    monkeypatch.setattr(mapping, "vital_observations", vital_observations)
    for params in ({}, {"code": ["http://loinc.org|8867-4"]}):  # the chart's vitals come first
        expected = store.filter_resources("Observation", everything, params)
        built.clear()
        page, total = observations.search(db, patient, Filters.parse("Observation", params),
                                          25, 4)
        assert (page, total) == (expected[25:29], len(expected))
        assert len(built) <= 4  # the page's rows, not the dozen or more before them

    read = []
    reading = observations._light_entries

    def light_entries(source, place, rows, kept):
        read.extend(rows)
        return reading(source, place, rows, kept)

    monkeypatch.setattr(observations, "_light_entries", light_entries)
    newest = sorted(everything, key=lambda r: datetime.fromisoformat(r["effectiveDateTime"]),
                    reverse=True)
    page, total = observations.search(db, patient, Filters.parse("Observation", {}), 25, 4,
                                      newest_first=True)
    assert (page, total) == (newest[25:29], len(everything))
    assert len(read) <= 5  # sorted too: from the page's start, not the rows above it


def test_a_patient_token_sees_only_its_own_compartment(api, world) -> None:
    own, other = world.patients["p_a1"], world.patients["p_a2"]
    client = api["patient_a1"]
    assert client.get(f"/fhir/Patient/{own}").status_code == 200
    mine = client.get("/fhir/Observation").json()
    assert all(e["resource"]["subject"]["reference"] == f"Patient/{own}" for e in mine["entry"])
    for path in (f"/fhir/Patient/{other}", f"/fhir/Patient/{other}/$everything"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["resourceType"] == "OperationOutcome"
    # a search is filtered by the patient's own compartment: another's finds nothing
    for path, params in (("/fhir/Observation", {"patient": other}),
                         ("/fhir/Condition", {"subject": f"Patient/{other}"})):
        response = client.get(path, params=params)
        assert response.status_code == 200 and response.json()["total"] == 0, path
    assert [e["resource"]["id"] for e in client.get("/fhir/Patient").json()["entry"]] == [own]
    included = client.get("/fhir/Observation", params={"_include": "Observation:subject"})
    assert included.status_code == 200
    assert [e["resource"]["id"] for e in included.json()["entry"]
            if e["search"]["mode"] == "include"] == [own]
    theirs = api["nurse_a"].get("/fhir/Condition", params={"patient": other}).json()
    their_id = theirs["entry"][0]["resource"]["id"]
    assert client.get("/fhir/Condition", params={"_id": their_id}).json()["total"] == 0
    assert client.get(f"/fhir/Condition/{their_id}").status_code == 404
    staff_elsewhere = api["nurse_b"].get(f"/fhir/Patient/{own}")
    assert staff_elsewhere.status_code == 404


def phq9_response(pid: str, answers: list[int | None], questionnaire: str =
                  "https://ketaclinic.org/Questionnaire/phq9") -> dict:
    return {"resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": questionnaire, "subject": {"reference": f"Patient/{pid}"},
            "item": [{"linkId": str(n), "answer": [{"valueInteger": v}]}
                     for n, v in enumerate(answers, start=1) if v is not None]}


def test_posting_a_questionnaire_response_scores_it(api, world) -> None:
    pid = world.patients["p_a1"]
    created = api["patient_a1"].post("/fhir/QuestionnaireResponse",
                                     json=phq9_response(pid, [2, 2, 2, 2, 2, 2, 2, 2, 0]))
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith(f"/fhir/QuestionnaireResponse/{created.json()['id']}")
    valid(created.json())
    [measure] = api["nurse_a"].get(f"/api/v1/patients/{pid}/measures").json()
    assert (measure["total"], measure["band"], measure["source"]) == (16, "moderately severe", "portal")
    by_panel = api["nurse_a"].post("/fhir/QuestionnaireResponse", json=phq9_response(
        pid, [0] * 9, questionnaire="http://loinc.org/q/44249-1"))
    assert by_panel.status_code == 201


def test_unusable_questionnaire_responses_are_refused(api, world) -> None:
    pid = world.patients["p_a1"]
    incomplete = api["nurse_a"].post("/fhir/QuestionnaireResponse",
                                     json=phq9_response(pid, [1, 1, 1, None, 1, 1, 1, 1, 0]))
    assert incomplete.status_code == 422
    assert incomplete.json()["issue"][0]["expression"] == ["answers[3]"]
    unknown = api["nurse_a"].post("/fhir/QuestionnaireResponse",
                                  json=phq9_response(pid, [0] * 9, questionnaire="urn:beck"))
    assert unknown.status_code == 422 and "questionnaire" in unknown.text
    other = api["patient_a1"].post("/fhir/QuestionnaireResponse",
                                   json=phq9_response(world.patients["p_a2"], [0] * 9))
    assert other.status_code == 404
    assert api["frontdesk"].post("/fhir/QuestionnaireResponse",
                                 json=phq9_response(pid, [0] * 9)).status_code == 403


PHQ9_ITEM_CODES = ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
                   "44253-3", "44260-8")
ANSWER_CODES = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")


def test_a_response_to_loinc_s_phq9_form_is_read_by_its_item_codes(api, world) -> None:
    """A PHQ-9 filled in a form built from LOINC's panel (44249-1) names its questions by their
    LOINC codes ('/44250-9'), may hold them in a group, and carries its own total (44261-6): it
    was refused as 'not an item of the form'."""
    pid = world.patients["p_a1"]
    answers = [1, 2, 1, 3, 0, 1, 2, 0, 0]
    questions = [{"linkId": f"/44249-1/{code}", "answer": [{"valueCoding": {
        "system": "http://loinc.org", "code": ANSWER_CODES[value]}}]}
        for code, value in zip(PHQ9_ITEM_CODES, answers, strict=True)]
    body = {"resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": "http://loinc.org/q/44249-1",
            "subject": {"reference": f"Patient/{pid}"},
            "item": [{"linkId": "/44249-1", "item": questions},
                     {"linkId": "/44261-6", "answer": [{"valueInteger": 10}]}]}
    created = api["nurse_a"].post("/fhir/QuestionnaireResponse", json=body)
    assert created.status_code == 201, created.text
    [measure] = api["nurse_a"].get(f"/api/v1/patients/{pid}/measures").json()
    assert (measure["instrument"], measure["total"]) == ("phq9", 10)
    body["item"] = [*questions, {"linkId": "/69736-7", "answer": [{"valueInteger": 1}]}]
    unknown = api["nurse_a"].post("/fhir/QuestionnaireResponse", json=body)
    assert unknown.status_code == 422 and "69736-7" in unknown.text


def test_the_phq9_s_difficulty_question_is_read_and_left_out_of_the_score(api, world) -> None:
    """LOINC's PHQ-9 form ends with the difficulty question (69722-7), which is not part of the
    score: a response holding it was refused whole, item 9 with it."""
    pid = world.patients["p_a1"]
    answers = [0, 1, 0, 1, 0, 1, 0, 1, 2]
    questions = [{"linkId": f"/{code}", "answer": [{"valueCoding": {
        "system": "http://loinc.org", "code": ANSWER_CODES[value]}}]}
        for code, value in zip(PHQ9_ITEM_CODES, answers, strict=True)]
    difficulty = {"linkId": "/69722-7", "answer": [{"valueCoding": {
        "system": "http://loinc.org", "code": "LA6573-5", "display": "Very difficult"}}]}
    created = api["nurse_a"].post("/fhir/QuestionnaireResponse", json={
        "resourceType": "QuestionnaireResponse", "status": "completed",
        "questionnaire": "http://loinc.org/q/44249-1", "subject": {"reference": f"Patient/{pid}"},
        "item": [*questions, difficulty]})
    assert created.status_code == 201, created.text
    [measure] = api["nurse_a"].get(f"/api/v1/patients/{pid}/measures").json()
    assert (measure["instrument"], measure["total"]) == ("phq9", 6)
    assert measure["answers"][8] == 2


GAD7_ITEM_CODES = ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7")


def test_a_response_to_loinc_s_gad7_form_is_read_by_its_item_codes(api, world) -> None:
    """A GAD-7 from a form built from LOINC's panel (69737-5) names its questions by their LOINC
    codes: it was refused, the items having only the clinic's own codes."""
    pid = world.patients["p_a1"]
    answers = [2, 1, 3, 0, 1, 2, 1]
    questions = [{"linkId": f"/{code}", "answer": [{"valueCoding": {
        "system": "http://loinc.org", "code": ANSWER_CODES[value]}}]}
        for code, value in zip(GAD7_ITEM_CODES, answers, strict=True)]
    created = api["nurse_a"].post("/fhir/QuestionnaireResponse", json={
        "resourceType": "QuestionnaireResponse", "status": "completed",
        "questionnaire": "http://loinc.org/q/69737-5", "subject": {"reference": f"Patient/{pid}"},
        "item": [*questions, {"linkId": "/70274-6", "answer": [{"valueDecimal": 10}]}]})
    assert created.status_code == 201, created.text
    [measure] = api["nurse_a"].get(f"/api/v1/patients/{pid}/measures").json()
    assert (measure["instrument"], measure["total"]) == ("gad7", 10)


NEW_PATIENT = {"resourceType": "Patient", "name": [{"family": "Okonkwo", "given": ["Ada"]}],
               "gender": "female", "birthDate": "1985-03-02"}


def test_create_patient_conditionally_and_update_it(api, world) -> None:
    client = api["nurse_a"]
    created = client.post("/fhir/Patient", json=NEW_PATIENT)
    assert created.status_code == 201, created.text
    patient = created.json()
    mrn = patient["identifier"][0]
    condition = f"identifier={mrn['system']}|{mrn['value']}"
    again = client.post("/fhir/Patient", json=NEW_PATIENT, headers={"If-None-Exist": condition})
    assert again.status_code == 200 and again.json()["id"] == patient["id"]
    changed = client.put(f"/fhir/Patient/{patient['id']}", json={
        **NEW_PATIENT, "id": patient["id"], "telecom": [{"system": "phone", "value": "+1 617 555 0101"}]})
    assert changed.status_code == 200 and changed.json()["telecom"][0]["value"] == "+16175550101"
    wrong = client.put(f"/fhir/Patient/{patient['id']}", json={**NEW_PATIENT, "birthDate": "2999-01-01"})
    assert wrong.status_code == 422 and wrong.json()["resourceType"] == "OperationOutcome"
    several_sites = api["prescriber"].post("/fhir/Patient", json=NEW_PATIENT)
    assert several_sites.status_code == 422 and "site" in several_sites.text


def test_create_condition_and_vital_signs_for_an_existing_patient(api, world, db) -> None:
    from sqlalchemy import func, select

    from ketaclinic.audit.models import AuditEvent

    def reads() -> int:
        return db.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "read")).scalar_one()

    pid = world.patients["p_a1"]
    condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "47505003",
                                      "display": "PTSD"}]},
                 "clinicalStatus": {"coding": [{"code": "active"}]}}
    created = api["nurse_a"].post("/fhir/Condition", json=condition)
    assert created.status_code == 201, created.text
    assert created.json()["code"]["coding"][0]["code"] == "47505003"
    pressure = {"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "effectiveDateTime": "2026-11-01T10:00:00+00:00",
                "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                               "valueQuantity": {"value": 138, "unit": "mmHg"}},
                              {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                               "valueQuantity": {"value": 86, "unit": "mmHg"}}]}
    reads_before = reads()
    stored = api["nurse_a"].post("/fhir/Observation", json=pressure)
    assert stored.status_code == 201, stored.text
    assert stored.headers["location"].endswith("-bp")
    assert reads() == reads_before + 1  # the import opens the patient; the answer is not read back
    assert api["nurse_a"].get(f"/fhir/Observation/{stored.json()['id']}").json() == stored.json()
    impossible = {**pressure, "component": [{**pressure["component"][0],
                                             "valueQuantity": {"value": 20, "unit": "mmHg"}}]}
    refused = api["nurse_a"].post("/fhir/Observation", json=impossible)
    assert refused.status_code == 422 and "plausible" in refused.text
    elsewhere = api["nurse_b"].post("/fhir/Condition", json=condition)  # a patient of site A
    assert elsewhere.status_code == 404 and elsewhere.json()["resourceType"] == "OperationOutcome"


def test_a_create_answers_the_resource_as_a_read_of_it_does(api, world, db) -> None:
    # the answer is built from the record written, not read back: it must be what a read gives
    from sqlalchemy import event

    pid = world.patients["p_a1"]
    subject = {"reference": f"Patient/{pid}"}
    loinc, snomed = "http://loinc.org", "http://snomed.info/sct"

    def vital(code: str, value: object, unit: str, at: str) -> dict[str, object]:
        return {"resourceType": "Observation", "status": "final", "subject": subject,
                "code": {"coding": [{"system": loinc, "code": code}]}, "effectiveDateTime": at,
                "valueQuantity": {"value": value, "unit": unit, "code": unit}}

    pressure = {"resourceType": "Observation", "status": "final", "subject": subject,
                "code": {"coding": [{"system": loinc, "code": "85354-9"}]},
                "effectivePeriod": {"start": "2026-11-02T08:15:30.25-05:00"},
                "component": [{"code": {"coding": [{"system": loinc, "code": "8480-6"}]},
                               "valueQuantity": {"value": 131, "unit": "mmHg"}}]}
    resources = [
        vital("8867-4", 72, "/min", "2026-11-01T23:30:00+02:00"),
        vital("29463-7", 165, "[lb_av]", "2026-11-01T09:00:00Z"),
        vital("8310-5", 36.65, "Cel", "2026-11-01T09:00:00.123456+05:30"),
        pressure,
        {"resourceType": "Condition", "subject": subject,
         "code": {"coding": [{"system": snomed, "code": "35489007", "display": "Depression"}]},
         "clinicalStatus": {"coding": [{"code": "resolved"}]},
         "onsetDateTime": "2019-03-04", "abatementDateTime": "2024-01-02T10:00:00+01:00"},
        {"resourceType": "MedicationStatement", "status": "active", "subject": subject,
         "medicationCodeableConcept": {"coding": [{
             "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "312938",
             "display": "sertraline 50 MG Oral Tablet"}]},
         "effectivePeriod": {"start": "2025-06-01"},
         "dosage": [{"text": "50 mg twice daily",
                     "doseAndRate": [{"doseQuantity": {"value": 50, "unit": "mg"}}]}]},
        {"resourceType": "AllergyIntolerance", "patient": subject, "criticality": "high",
         "type": "intolerance",
         "code": {"coding": [{"system": snomed, "code": "373270004",
                              "display": "Penicillin"}]}}]
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(" ".join(statement.split()).lower())

    for resource in resources:
        event.listen(db.get_bind(), "before_cursor_execute", record)
        try:
            created = api["nurse_a"].post(f"/fhir/{resource['resourceType']}", json=resource)
        finally:
            event.remove(db.get_bind(), "before_cursor_execute", record)
        assert created.status_code == 201, created.text
        read = api["nurse_a"].get(created.headers["location"].split("/_history")[0])
        assert read.status_code == 200, read.text
        assert created.json() == read.json(), resource
        assert created.content == read.content  # to the letter: 131.0, not 131
    assert statements, "the creates were seen"
    # a create's entry has a full URL of its own making: no earlier import is looked up
    assert not [s for s in statements if "from imported_resource" in s]
    assert not [s for s in statements if s.startswith("select") and (
        "from vital_signs " in s or "from condition " in s)], "nothing is read back"


def test_questionnaires_only_where_the_licence_allows(api) -> None:
    bundle = api["nurse_a"].get("/fhir/Questionnaire").json()
    valid(bundle)
    ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert ids == {"phq9", "gad7", "pcl5", "pain", "cssrs"}  # not QIDS-SR16 or MADRS
    phq9 = api["nurse_a"].get("/fhir/Questionnaire/phq9").json()
    valid(phq9)
    assert phq9["code"][0]["code"] == "44249-1" and phq9["item"][8]["code"][0]["code"] == "44260-8"
    assert api["nurse_a"].get("/fhir/Questionnaire/qids16").status_code == 404
    cssrs = api["nurse_a"].get("/fhir/Questionnaire", params={
        "url": "https://ketaclinic.org/Questionnaire/cssrs"}).json()["entry"][0]["resource"]
    assert cssrs["item"][2]["enableWhen"][0]["question"] == "2"


def test_chair_readings_and_session_scores_are_observations(api, world, db) -> None:
    pid = world.patients["p_a1"]
    session_id = open_session(api, db, pid)
    api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/vitals", json={"readings": [
        {"systolic_mmhg": 150, "diastolic_mmhg": 90, "spo2_pct": 97}]})
    api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/events",
                        json={"kind": "moass", "value": 4})
    bundle = api["nurse_a"].get("/fhir/Observation", params={"patient": pid}).json()
    in_session = [e["resource"] for e in bundle["entry"]
                  if e["resource"].get("encounter", {}).get("reference") == f"Encounter/{session_id}"]
    codes = {r["code"]["coding"][0]["code"] for r in in_session}
    assert {"85354-9", "2708-6", "moass"} <= codes
    for resource in in_session:
        valid(resource)
        read = api["nurse_a"].get(f"/fhir/Observation/{resource['id']}")
        assert read.status_code == 200 and read.json() == resource  # as the search built it


def test_update_a_condition_in_place_or_as_entered_in_error(api, world) -> None:
    pid = world.patients["p_a1"]
    client = api["nurse_a"]
    condition = client.get("/fhir/Condition", params={"patient": pid}).json()["entry"][0]["resource"]
    resolved = {**condition, "clinicalStatus": {"coding": [{"code": "resolved"}]},
                "abatementDateTime": "2026-10-01"}
    updated = client.put(f"/fhir/Condition/{condition['id']}", json=resolved)
    assert updated.status_code == 200, updated.text
    assert updated.json()["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert updated.json()["abatementDateTime"] == "2026-10-01"
    assert updated.json()["category"][0]["coding"][0]["code"] == "problem-list-item"
    concern = {**condition, "category": [{"coding": [{
        "system": "http://hl7.org/fhir/us/core/CodeSystem/condition-category",
        "code": "health-concern"}]}]}
    moved = client.put(f"/fhir/Condition/{condition['id']}", json=concern)
    assert moved.status_code == 200, moved.text
    assert moved.json()["category"][0]["coding"][0]["code"] == "health-concern"
    recoded = {**condition, "code": {"coding": [{"system": "http://snomed.info/sct",
                                                 "code": "47505003"}]}}
    refused = client.put(f"/fhir/Condition/{condition['id']}", json=recoded)
    assert refused.status_code == 422 and "cannot change" in refused.text
    wrong = {**condition, "verificationStatus": {"coding": [{"code": "entered-in-error"}]},
             "note": [{"text": "belongs to another patient"}]}
    marked = client.put(f"/fhir/Condition/{condition['id']}", json=wrong)
    assert marked.status_code == 200
    assert marked.json()["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert client.put(f"/fhir/Encounter/{condition['id']}", json=condition).status_code == 404
    assert api["nurse_b"].put(f"/fhir/Condition/{condition['id']}", json=resolved).status_code == 404


def test_a_course_is_the_prescriber_s_medication_request(api, world, db) -> None:
    import uuid

    from sqlalchemy import select

    from ketaclinic.courses.models import Course

    pid = world.patients["p_a1"]
    nurse = api["nurse_a"]
    open_session(api, db, pid)  # an IV course signed to start, and its first session
    course = db.execute(select(Course).order_by(Course.pk.desc()).limit(1)).scalar_one()
    assert course.dose is not None

    def search(**params: str) -> dict:
        response = nurse.get("/fhir/MedicationRequest", params={"patient": pid, **params})
        assert response.status_code == 200, response.text
        return response.json()

    found = search()
    ordered = {e["resource"]["id"]: e["resource"] for e in found["entry"]}
    order = ordered[str(course.id)]
    get_fhir_model_class("MedicationRequest").model_validate(order)
    assert (order["status"], order["intent"]) == ("active", "order")
    assert order["medicationCodeableConcept"]["coding"][0] == {
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6130",
        "display": "ketamine"}
    assert order["dosageInstruction"][0]["route"]["coding"][0]["code"] == "47625008"
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == (
        course.dose.dose_mg)
    assert order["requester"] == {"display": course.prescriber}
    assert nurse.get(f"/fhir/MedicationRequest/{course.id}").json() == order
    assert str(course.id) in [e["resource"]["id"] for e in search(
        code="http://www.nlm.nih.gov/research/umls/rxnorm|6130", intent="order",
        # the day it was signed at the searcher's site: a date searched for is the site's day
        authoredon=f"ge{clock.date_in(course.signed_at, 'America/New_York').isoformat()}"
    )["entry"]]
    assert search(intent="plan")["total"] == 0
    assert search(code="http://www.nlm.nih.gov/research/umls/rxnorm|2201623")["total"] == 0

    stopped_before = search(status="stopped")["total"]
    course.state = "stopped"  # as a review deciding to stop leaves it
    db.flush()
    assert search(status="stopped")["total"] == stopped_before + 1
    assert nurse.get(f"/fhir/MedicationRequest/{course.id}").json()["status"] == "stopped"
    assert api["nurse_b"].get(f"/fhir/MedicationRequest/{course.id}").status_code == 404
    assert nurse.get(f"/fhir/MedicationRequest/{uuid.uuid4()}").status_code == 404

    capability = api["prescriber"].get("/fhir/metadata").json()
    offered = {r["type"]: {p["name"] for p in r["searchParam"]}
               for r in capability["rest"][0]["resource"]}
    assert {"patient", "status", "intent", "code", "authoredon"} <= offered["MedicationRequest"]
    everything = nurse.get(f"/fhir/Patient/{pid}/$everything").json()
    assert str(course.id) in [e["resource"]["id"] for e in everything["entry"]
                              if e["resource"]["resourceType"] == "MedicationRequest"]
    for entry in everything["entry"]:  # the sessions' administrations now coded too
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])


def test_all_twelve_synthea_bundles_post_once(api, world, db) -> None:
    import json as jsonlib

    from sqlalchemy import func, select

    from ketaclinic.patients.models import Patient
    from tests.examples import SYNTHEA as folder

    before = db.execute(select(func.count()).select_from(Patient)).scalar_one()
    bodies = [p.read_bytes() for p in sorted(folder.glob("*.json"))]
    for body in bodies:
        response = api["nurse_a"].post("/fhir", content=body)
        assert response.status_code == 200, response.text[:300]
        assert len(response.json()["entry"]) == len(jsonlib.loads(body)["entry"])
    assert db.execute(select(func.count()).select_from(Patient)).scalar_one() == before + 12
    again = api["nurse_a"].post("/fhir", content=bodies[0]).json()
    assert {e["response"]["status"] for e in again["entry"]} == {"200 OK"}
    assert db.execute(select(func.count()).select_from(Patient)).scalar_one() == before + 12


def test_search_parameters_clients_use_are_offered_and_honoured(api, world, db) -> None:
    pid = world.patients["p_a1"]
    nurse = api["nurse_a"]
    capability = api["prescriber"].get("/fhir/metadata").json()
    offered = {r["type"]: {p["name"] for p in r["searchParam"]}
               for r in capability["rest"][0]["resource"]}
    assert {"family", "given", "identifier", "birthdate", "gender", "name"} <= offered["Patient"]
    assert {"category", "code", "date", "patient"} <= offered["Observation"]
    assert {"category", "clinical-status", "code", "onset-date"} <= offered["Condition"]
    includes = {r["type"]: r.get("searchInclude", []) for r in capability["rest"][0]["resource"]}
    assert "Observation:subject" in includes["Observation"]
    assert "Encounter:subject" in includes["Encounter"]
    assert "status" in offered["Encounter"] and "questionnaire" in offered[
        "QuestionnaireResponse"]

    session_id = open_session(api, db, pid)
    nurse.post(f"/api/v1/patients/{pid}/measures",
               json={"instrument": "phq9", "answers": [1] * 9})
    nurse.post(f"/api/v1/patients/{pid}/vitals", json={"heart_rate_bpm": 71})

    def search(kind: str, **params: str) -> dict:
        response = nurse.get(f"/fhir/{kind}", params={"patient": pid, **params})
        assert response.status_code == 200, response.text
        return response.json()

    surveys = search("Observation", category="survey")
    assert surveys["total"] >= 1 and all(
        e["resource"]["category"][0]["coding"][0]["code"] == "survey" for e in surveys["entry"])
    vitals = search("Observation", category="vital-signs")
    everything = search("Observation", _count="200")
    assert vitals["total"] + surveys["total"] == everything["total"]
    newest = search("Observation", _sort="-date")["entry"]
    moments = [e["resource"]["effectiveDateTime"] for e in newest]
    assert moments == sorted(moments, key=datetime.fromisoformat, reverse=True)
    assert nurse.get("/fhir/Observation", params={"patient": pid, "_sort": "value"}
                     ).status_code == 400
    counted = search("Observation", _summary="count")
    assert counted["total"] == everything["total"] and counted["entry"] == []
    assert nurse.get("/fhir/Observation", params={"patient": pid, "_summary": "text"}
                     ).status_code == 400

    with_patient = search("Encounter", _include="Encounter:subject")
    modes = [e["search"]["mode"] for e in with_patient["entry"]]
    assert modes.count("include") == 1 and modes[-1] == "include"
    assert with_patient["entry"][-1]["resource"]["id"] == pid
    assert with_patient["total"] == modes.count("match")  # the total counts matches only
    refused = nurse.get("/fhir/Encounter", params={"patient": pid,
                                                    "_include": "Encounter:participant"})
    assert refused.status_code == 400 and "Encounter:subject" in refused.text
    open_encounters = search("Encounter", status="in-progress")
    assert session_id in [e["resource"]["id"] for e in open_encounters["entry"]]
    assert search("Encounter", status="finished")["total"] == search(
        "Encounter")["total"] - open_encounters["total"]
    phq9 = search("QuestionnaireResponse",
                  questionnaire="https://ketaclinic.org/Questionnaire/phq9")
    assert phq9["total"] >= 1
    assert search("QuestionnaireResponse",
                  questionnaire="https://ketaclinic.org/Questionnaire/gad7")["total"] == 0
    added = nurse.post(f"/api/v1/patients/{pid}/conditions", json={
        "system": "snomed", "code": "35489007", "display": "Depressive disorder",
        "onset_date": "2019-06-01"})
    assert added.status_code == 201, added.text
    onset = search("Condition", **{"onset-date": "ge2019-06"})["entry"]
    assert added.json()["id"] in [e["resource"]["id"] for e in onset]
    assert all(e["resource"]["onsetDateTime"] >= "2019-06" for e in onset)
    assert "2019-06-01" not in [e["resource"].get("onsetDateTime") for e in search(
        "Condition", **{"onset-date": "lt2019-06-01"})["entry"]]
    conditions = search("Condition")["total"]
    assert conditions >= 1
    assert search("Condition", **{"clinical-status": "active,resolved,inactive,remission"}
                  )["total"] == conditions

    diagnosis = nurse.post(f"/api/v1/patients/{pid}/conditions", json={
        "system": "snomed", "code": "35489007", "display": "Depressive disorder",
        "category": "encounter-diagnosis"})
    assert diagnosis.status_code == 201, diagnosis.text
    assert diagnosis.json()["category"] == "encounter-diagnosis"
    assert added.json()["category"] == "problem-list-item"  # what the chart lists by default

    def condition_ids(category: str) -> list[str]:
        return [e["resource"]["id"] for e in search("Condition", category=category)["entry"]]

    category_system = "http://terminology.hl7.org/CodeSystem/condition-category"
    assert diagnosis.json()["id"] in condition_ids("encounter-diagnosis")
    assert diagnosis.json()["id"] in condition_ids(f"{category_system}|encounter-diagnosis")
    assert diagnosis.json()["id"] not in condition_ids("problem-list-item")
    assert added.json()["id"] in condition_ids("problem-list-item")
    assert diagnosis.json()["id"] not in condition_ids(
        "http://hl7.org/fhir/us/core/CodeSystem/condition-category|encounter-diagnosis")
    assert search("Condition", category="problem-list-item,encounter-diagnosis,health-concern"
                  )["total"] == conditions + 1
    read = nurse.get(f"/fhir/Condition/{diagnosis.json()['id']}").json()
    assert read["category"] == [{"coding": [{"system": category_system,
                                             "code": "encounter-diagnosis",
                                             "display": "Encounter Diagnosis"}]}]
    refused = nurse.post(f"/api/v1/patients/{pid}/conditions", json={
        "system": "snomed", "code": "35489007", "display": "Depressive disorder",
        "category": "diagnosis"})
    assert refused.status_code == 422
    assert "category" in refused.text and "health-concern" in refused.text
    assert search("Condition")["total"] == conditions + 1  # the refused one was not stored


def test_patient_search_by_family_given_gender_birthdate_and_exact_identifier(api, world) -> None:
    nurse = api["nurse_a"]
    pid = world.patients["p_a1"]
    patient = nurse.get(f"/fhir/Patient/{pid}").json()
    family, given = patient["name"][0]["family"], patient["name"][0]["given"][0]
    identifier = patient["identifier"][0]

    def ids(**params: str) -> list[str]:
        response = nurse.get("/fhir/Patient", params=params)
        assert response.status_code == 200, response.text
        return [e["resource"]["id"] for e in response.json()["entry"]]

    assert pid in ids(family=family[:4].lower())
    assert pid not in ids(family=family[1:])  # a family name matches from its start
    # LIKE's wildcards in a value are only characters (the statement is shared by searches of
    # one shape, each value bound as given)
    assert ids(family="%") == [] and ids(name="%") == [] and ids(given="_") == []
    assert pid not in ids(family="_" + family[1:])
    assert pid in ids(family=family, given=given, gender=patient["gender"])
    assert pid not in ids(family=family, gender="other")
    assert ids(identifier=f"{identifier['system']}|{identifier['value']}") == [pid]
    assert ids(identifier=identifier["value"]) == [pid]
    assert ids(identifier=f"{identifier['system']}|{identifier['value'][:-1]}") == []
    assert ids(identifier=family) == []  # an identifier is not a name
    born = patient["birthDate"]
    assert pid in ids(birthdate=born) and pid in ids(birthdate=f"ge{born}")
    assert pid in ids(birthdate=born[:4]) and pid not in ids(birthdate=f"gt{born}")
    assert pid not in ids(birthdate=f"lt{born}")
    # a date-time with a zone is compared on the clinic's clock: 02:00 at +05:00 is the evening
    # before in New York
    day_before = (date.fromisoformat(born) - timedelta(days=1)).isoformat()
    assert pid in ids(birthdate=f"ge{born}T02:00:00+05:00")
    assert pid not in ids(birthdate=f"lt{born}T02:00:00+05:00")
    assert pid in ids(birthdate=f"gt{day_before}T12:00:00+00:00")
    refused = nurse.get("/fhir/Patient", params={"birthdate": "ge-yesterday"})
    assert refused.status_code == 400 and refused.json()["issue"][0]["expression"] == [
        "birthdate"]


def test_patient_search_pages_give_the_whole_total_whether_or_not_they_count_it(
        api, world) -> None:
    # the last page is counted from its own rows; any other asks the database
    nurse = api["prescriber"]  # of both sites: the most patients

    def search(**params: str) -> dict:
        response = nurse.get("/fhir/Patient", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    everyone = search(_count="100")
    names = [e["resource"]["id"] for e in everyone["entry"]]
    assert everyone["total"] == len(names) >= 3
    for count in range(1, len(names) + 2):
        walked = []
        for offset in range(0, len(names) + count, count):
            page = search(_count=str(count), _offset=str(offset))
            assert page["total"] == len(names), (count, offset)
            walked += [e["resource"]["id"] for e in page.get("entry", [])]
        assert walked == names, count
    assert search(_summary="count")["total"] == len(names)
    assert search(family="no-such-family")["total"] == 0
    assert search(family="no-such-family", _offset="5")["total"] == 0


def test_a_patient_read_answers_as_the_record_loaded_does(db) -> None:
    # The read is one query of columns, the MRNs and their sites joined in; it answers as the
    # record loaded with its MRNs and sites, and refuses what the record would.
    import pytest

    from ketaclinic.clinics.models import Site
    from ketaclinic.errors import OutOfReach
    from ketaclinic.fhir import mapping, store
    from ketaclinic.kernel.actor import Actor
    from ketaclinic.patients.models import Patient, PatientMrn

    first, second = db.execute(select(Site).order_by(Site.pk)).scalars().all()[:2]
    patient = Patient(family_name="Okafor", given_name="Ada", sex="female", phone="+1-555-0101",
                      email="ada@example.org", address="1 Chair Lane",
                      emergency_contact_name="Ben Okafor", emergency_contact_phone="+1-555-0102",
                      emergency_contact_relationship="brother", search_name="okafor ada",
                      birth_date=clock.now().date() - timedelta(days=12000))
    patient.mrns = [PatientMrn(site_pk=second.pk, mrn="S2-9"),
                    PatientMrn(site_pk=first.pk, mrn="S1-3")]
    bare = Patient(family_name="Nomrn", given_name="Ben", sex="male", search_name="nomrn ben",
                   birth_date=clock.now().date() - timedelta(days=9000), active=False)
    db.add_all([patient, bare])
    db.flush()
    db.refresh(patient)
    actor = Actor(username="reader", role="nurse", site_pks=frozenset({first.pk}))
    shown = store.read(db, "Patient", str(patient.id), actor)
    assert shown == mapping.patient(patient)
    assert [i["value"] for i in shown["identifier"]] == ["S2-9", "S1-3"]
    assert shown["managingOrganization"]["display"] == second.name
    valid(shown)
    elsewhere = Actor(username="other", role="nurse", site_pks=frozenset({-1}))
    for actor_, asked in ((elsewhere, str(patient.id)), (actor, "not-a-uuid"),
                          (actor, str(bare.id))):
        with pytest.raises(OutOfReach):
            store.read(db, "Patient", asked, actor_)


def test_a_vital_signs_read_answers_as_the_record_loaded_does(db) -> None:
    # A set of vital signs is read by id as columns, its patient's key and id joined in under
    # names of their own (the row has a key and an id too): each of its Observations answers as
    # the record loaded does, to staff of its patient's site and to that patient, and to no one
    # else.
    import pytest

    from ketaclinic.clinics.models import Site
    from ketaclinic.errors import OutOfReach
    from ketaclinic.fhir import mapping, store
    from ketaclinic.kernel.actor import Actor
    from ketaclinic.patients.models import Patient, PatientMrn, VitalSigns

    first, second = db.execute(select(Site).order_by(Site.pk)).scalars().all()[:2]
    born = clock.now().date() - timedelta(days=10000)
    patient = Patient(family_name="Vance", given_name="Ida", sex="female", birth_date=born,
                      search_name="vance ida")
    patient.mrns = [PatientMrn(site_pk=second.pk, mrn="V2-1")]
    db.add(patient)
    db.flush()
    sets = [VitalSigns(patient_pk=patient.pk, measured_at=clock.now() - timedelta(hours=h),
                       systolic_mmhg=131, diastolic_mmhg=84, heart_rate_bpm=71, spo2_pct=98)
            for h in (2, 3)]
    db.add_all(sets)
    db.flush()
    # one whose key is not its patient's, so that the one cannot pass for the other
    vitals = next(v for v in sets if v.pk != patient.pk)
    db.refresh(vitals)
    expected = mapping.vital_observations(vitals, patient.id)
    assert [o["id"].rsplit("-", 1)[1] for o in expected] == ["bp", "hr", "spo2"]
    staff = Actor(username="reader", role="nurse", site_pks=frozenset({second.pk}))
    own = Actor(username="ida", role="patient", patient_pk=patient.pk)
    for observation in expected:
        for actor in (staff, own):
            assert store.read(db, "Observation", observation["id"], actor) == observation
        valid(observation)
    elsewhere = Actor(username="other", role="nurse", site_pks=frozenset({first.pk}))
    another = Actor(username="someone", role="patient", patient_pk=patient.pk + 1000)
    for actor in (elsewhere, another):
        with pytest.raises(OutOfReach):
            store.read(db, "Observation", expected[0]["id"], actor)


def test_a_patient_search_page_holds_whole_patients_as_their_records_answer(db) -> None:
    # A page is read as columns, a row per MRN: a page of one holds one patient with every MRN,
    # in name order, each answered as the record loaded with its MRNs and sites would be.
    from ketaclinic.clinics.models import Site
    from ketaclinic.fhir import mapping, patient_search
    from ketaclinic.kernel.actor import Actor
    from ketaclinic.patients.models import Patient, PatientMrn

    first, second = db.execute(select(Site).order_by(Site.pk)).scalars().all()[:2]
    born = clock.now().date() - timedelta(days=11000)
    twins = [Patient(family_name="Quennell", given_name=given, sex="female", birth_date=born,
                     search_name=f"quennell {given.lower()}") for given in ("Bea", "Ada")]
    for n, twin in enumerate(twins):
        twin.mrns = [PatientMrn(site_pk=second.pk, mrn=f"Q2-{n}"),
                     PatientMrn(site_pk=first.pk, mrn=f"Q1-{n}")]
    db.add_all(twins)
    db.flush()
    for twin in twins:
        db.refresh(twin)
    actor = Actor(username="reader", role="nurse", site_pks=frozenset({first.pk, second.pk}))
    pages = [patient_search.search(db, actor, {"family": ["quennell"]}, offset, 1)
             for offset in (0, 1, 2)]
    assert [total for _, total in pages] == [2, 2, 2]
    assert [found for found, _ in pages] == [[mapping.patient(twins[1])],
                                             [mapping.patient(twins[0])], []]
    assert [i["value"] for i in pages[0][0][0]["identifier"]] == ["Q2-1", "Q1-1"]
    both, total = patient_search.search(db, actor, {"family": ["quennell"]}, 0, 10)
    assert total == 2 and [p["name"][0]["given"] for p in both] == [["Ada"], ["Bea"]]


ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
WORDS = ("Not at all", "Several days", "More than half the days", "Nearly every day")


@pytest.mark.parametrize("answer", [
    # a score as a decimal, as some apps send every number
    lambda value: {"valueDecimal": float(value)},
    # an app's own answer codes carrying their score in the ordinalValue extension
    lambda value: {"valueCoding": {"system": "urn:app:answers", "code": f"a{value}",
                                   "extension": [{"url": ORDINAL, "valueDecimal": value}]}},
    # an app's own answer codes with the answer's words
    lambda value: {"valueCoding": {"system": "urn:app:answers", "code": f"a{value}",
                                   "display": WORDS[value]}},
])
def test_a_phq9_answered_as_apps_send_answers_is_scored(api, world, answer) -> None:
    """An answer as a decimal, or an app's own code with its score or its words, was refused:
    the whole form, item 9 with it, was lost."""
    pid = world.patients["p_a1"]
    answers = [1, 0, 2, 1, 0, 3, 0, 1, 1]
    created = api["nurse_a"].post("/fhir/QuestionnaireResponse", json={
        "resourceType": "QuestionnaireResponse", "status": "completed",
        "questionnaire": "https://ketaclinic.org/Questionnaire/phq9",
        "subject": {"reference": f"Patient/{pid}"},
        "item": [{"linkId": str(n), "answer": [answer(v)]}
                 for n, v in enumerate(answers, start=1)]})
    assert created.status_code == 201, created.text
    [measure] = api["nurse_a"].get(f"/api/v1/patients/{pid}/measures").json()
    assert (measure["total"], measure["answers"][8]) == (9, 1)


@pytest.mark.parametrize("answer", [
    {"valueDecimal": 1.5}, {"valueDecimal": 7.0},
    {"valueCoding": {"system": "urn:app:answers", "code": "x", "display": "Sometimes"}},
    {"valueCoding": {"system": "urn:app:answers", "code": "x",
                     "extension": [{"url": ORDINAL, "valueDecimal": 9}]}},
])
def test_an_answer_that_is_no_score_of_the_form_is_refused(api, world, answer) -> None:
    pid = world.patients["p_a1"]
    body = phq9_response(pid, [0] * 9)
    body["item"][0]["answer"] = [answer]
    refused = api["nurse_a"].post("/fhir/QuestionnaireResponse", json=body)
    assert refused.status_code == 422, refused.text
    assert api["nurse_a"].get(f"/api/v1/patients/{pid}/measures").json() == []
