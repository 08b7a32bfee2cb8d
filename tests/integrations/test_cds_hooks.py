"""CDS Hooks 2.0: discovery, order-select and patient-view from prefetch alone."""

import uuid
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit.models import AuditEvent
from tests.fhir_builders import ICD10, RXNORM, SNOMED, blood_pressure, condition, patient, weight

# Shapes from the CDS Hooks 2.0 specification (Discovery; CDS Service Response, Card).
DISCOVERY_SCHEMA = {
    "type": "object", "required": ["services"],
    "properties": {"services": {"type": "array", "items": {
        "type": "object", "required": ["hook", "description", "id"],
        "properties": {"hook": {"type": "string"}, "title": {"type": "string"},
                       "description": {"type": "string"}, "id": {"type": "string"},
                       "prefetch": {"type": "object", "additionalProperties": {"type": "string"}},
                       "usageRequirements": {"type": "string"}}}}}}
CARDS_SCHEMA = {
    "type": "object", "required": ["cards"],
    "properties": {"cards": {"type": "array", "items": {
        "type": "object", "required": ["summary", "indicator", "source"],
        "properties": {"uuid": {"type": "string"},
                       "summary": {"type": "string", "maxLength": 140},
                       "detail": {"type": "string"},
                       "indicator": {"enum": ["info", "warning", "critical"]},
                       "source": {"type": "object", "required": ["label"],
                                  "properties": {"label": {"type": "string"}}}}}}}}


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"http://ehr.example/fhir/{r['resourceType']}/{r['id']}",
                       "resource": r} for r in resources]}


def ketamine_order(route_code: str = "47625008", code: str = "6130",
                   display: str = "ketamine") -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft",
            "intent": "order", "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code,
                                                      "display": display}]},
            "dosageInstruction": [{"route": {"coding": [{"system": SNOMED, "code": route_code}]}}]}


def hook_request(hook: str, conditions: list[dict[str, Any]], bp=(122, 78),
                 order: dict[str, Any] | None = None, with_patient: bool = True) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "PractitionerRole/123", "patientId": "p1"}
    if hook == "order-select":
        order = order or ketamine_order()
        context["selections"] = [f"MedicationRequest/{order['id']}"]
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": order}]}
    prefetch: dict[str, Any] = {
        "conditions": searchset(*conditions),
        "bloodPressures": searchset(blood_pressure(*bp, days_before=0, at=clock.now())),
        "weights": searchset(weight(70, days_before=0, at=clock.now())),
    }
    if with_patient:
        prefetch["patient"] = patient()
    return {"hook": hook, "hookInstance": str(uuid.uuid4()),
            "fhirServer": "http://ehr.example/fhir", "context": context, "prefetch": prefetch}


ANEURYSM = condition("I67.1", "Cerebral aneurysm, nonruptured", ICD10)


def test_discovery_follows_the_specification(anon) -> None:
    response = anon.get("/cds-services")
    assert response.status_code == 200
    body = response.json()
    jsonschema.validate(body, DISCOVERY_SCHEMA)
    hooks = {s["id"]: s["hook"] for s in body["services"]}
    assert hooks == {"ketamine-screening": "order-select",
                     "ketamine-screening-patient-view": "patient-view"}
    prefetch = body["services"][0]["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert "85354-9" in prefetch["bloodPressures"]
    # a systolic and a diastolic sent apart are read as one pressure: both are asked for
    assert "loinc.org|8480-6" in prefetch["bloodPressures"]
    assert "loinc.org|8462-4" in prefetch["bloodPressures"]


def test_discovery_asks_for_the_observations_that_say_pregnant_or_breastfeeding(anon) -> None:
    """The service works from prefetch alone, and asked for no status Observation: a positive
    hCG or a pregnancy status recorded as an Observation (no Condition) never reached screening,
    which counts a current one like the Condition."""
    from ketaclinic.knowledge.status_observations import status_observations

    for service in anon.get("/cds-services").json()["services"]:
        asked = service["prefetch"]["statusObservations"]
        for kind in status_observations():
            assert all(f"http://loinc.org|{code}" in asked for code in kind.loinc), kind.title


def test_order_select_iv_ketamine_with_an_aneurysm_is_critical(api, db: Session) -> None:
    response = api["prescriber"].post("/cds-services/ketamine-screening",
                                      json=hook_request("order-select", [ANEURYSM]))
    assert response.status_code == 200, response.text
    body = response.json()
    jsonschema.validate(body, CARDS_SCHEMA)
    critical = [c for c in body["cards"] if c["indicator"] == "critical"]
    assert critical and "Aneurysmal vascular disease" in critical[0]["summary"]
    assert critical[0]["source"]["label"].startswith("SPRAVATO-PI")
    event = db.execute(select(AuditEvent).where(AuditEvent.action == "cds-screen")).scalar_one()
    assert event.patient_id == "p1" and "iv=not-eligible" in event.detail


def test_order_select_esketamine_high_bp_is_a_warning(api, db: Session) -> None:
    order = ketamine_order(route_code="46713006", code="2201623", display="esketamine")
    body = api["nurse_a"].post("/cds-services/ketamine-screening", json=hook_request(
        "order-select", [], bp=(185, 95), order=order)).json()
    jsonschema.validate(body, CARDS_SCHEMA)
    assert [c["indicator"] for c in body["cards"]] == ["warning"]


def test_order_select_without_ketamine_says_nothing(api, db: Session) -> None:
    order = ketamine_order(code="36437", display="sertraline")
    body = api["prescriber"].post("/cds-services/ketamine-screening",
                                  json=hook_request("order-select", [ANEURYSM], order=order)).json()
    assert body == {"cards": []}


def test_patient_view_of_a_healthy_patient(api, db: Session) -> None:
    body = api["prescriber"].post("/cds-services/ketamine-screening-patient-view",
                                  json=hook_request("patient-view", [])).json()
    jsonschema.validate(body, CARDS_SCHEMA)
    assert [c["indicator"] for c in body["cards"]] == ["info"]
    assert "No contraindication" in body["cards"][0]["summary"]


def test_a_reading_late_in_the_clinic_s_evening_counts_for_that_day(api, db: Session,
                                                                    clinic_clock) -> None:
    # 23:50 in New York (the prescriber's first site) is already tomorrow in UTC.
    evening = datetime.combine(clock.today("America/New_York") + timedelta(days=1), time(23, 50),
                               tzinfo=ZoneInfo("America/New_York"))
    clinic_clock.move_to(evening)
    body = api["prescriber"].post("/cds-services/ketamine-screening-patient-view",
                                  json=hook_request("patient-view", [])).json()
    assert [c["indicator"] for c in body["cards"]] == ["info"], body


def test_patient_view_on_the_main_service_names_routes(api, db: Session) -> None:
    body = api["prescriber"].post("/cds-services/ketamine-screening",
                                  json=hook_request("patient-view", [], bp=(185, 95))).json()
    summaries = {c["indicator"]: c["summary"] for c in body["cards"]}
    assert "(iv, im, oral)" in summaries["critical"]
    assert "warning" in summaries


def test_missing_prefetch_is_412_and_bad_requests_are_400(api, db: Session) -> None:
    client = api["prescriber"]
    missing = client.post("/cds-services/ketamine-screening",
                          json=hook_request("order-select", [], with_patient=False))
    assert missing.status_code == 412
    assert client.post("/cds-services/ketamine-screening", content=b"{nope").status_code == 400
    assert client.post("/cds-services/ketamine-screening", json={"hook": "x"}).status_code == 400
    other_hook = hook_request("order-sign", [])
    assert client.post("/cds-services/ketamine-screening", json=other_hook).status_code == 400
    assert client.post("/cds-services/nothing-here", json=other_hook).status_code == 404


def test_calls_need_a_token(anon, db: Session) -> None:
    response = anon.post("/cds-services/ketamine-screening", json=hook_request("order-select", []))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
