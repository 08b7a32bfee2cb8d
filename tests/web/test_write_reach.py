"""Reach on every write path: a user who works only at site A, sending site B's ids to each write
route their role may use (in the path or in the body), is refused with 403 or 404, learns
nothing of the record, and nothing is written."""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.auth import service as auth
from ketaclinic.auth.models import EmergencyAccess, User
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.db import Base
from ketaclinic.integrations import monitor_feed
from ketaclinic.inventory.models import Discrepancy
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Role, allows
from ketaclinic.measures.models import MeasureAlert, MeasureRequest, OnCall
from ketaclinic.patients.models import Condition, Patient
from ketaclinic.scheduling.models import Appointment, CalendarFeed
from ketaclinic.treatments.models import (
    MonitorMessage,
    SessionAlarm,
    SessionReading,
    TreatmentSession,
)
from ketaclinic.web.deps import API_PREFIX, BEARER_PREFIXES
from ketaclinic.web.routes import registered_routes
from tests.conftest import BASE_URL, PASSWORD, api_token, csrf_of, web_login
from tests.conftest import TestUser as SeededUser
from tests.fhir.test_fhir_api import NEW_PATIENT, phq9_response
from tests.integrations.test_pcd01 import PCD01

# Written by every refused request, or by signing in: the rest of the database must not change.
CHANGED_BY_ANY_REQUEST = {"audit_event", "audit_unsealed", "credential_attempt", "access_token",
                          "app_user", "user_site"}
EXAMPLES_PER_OPERATION = 4


@dataclass
class SiteB:
    """Ids of site B's records, by the path parameter that names them."""

    ids: dict[str, str]
    names: list[str]  # what must never appear in an answer to a site-A user


def _site(db: Session, code: str) -> Site:
    return db.execute(select(Site).where(Site.code == code)).scalar_one()


def _new_user(db: Session, username: str, role: str) -> SeededUser:
    system = Actor(username="seed", role="system", site_pks=frozenset({_site(db, "A").pk}))
    user = auth.create_user(db=db, username=username, display_name=username, role=role,
                            password=PASSWORD, site_codes=["A"], actor=system)
    secret = None
    if role in ("admin", "prescriber"):
        secret = user.totp_secret = pyotp.random_base32()
        user.totp_enabled = True
    db.flush()
    return SeededUser(username, role, secret)


def _site_b_records(api, world, db: Session) -> SiteB:
    """One of each kind of record at site B, made through the API where it can be."""
    b1 = world.patients["p_b1"]
    site_b = _site(db, "B")
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(b1))).scalar_one()
    now = clock.now()
    evaluation = api["nurse_b"].post(f"/api/v1/patients/{b1}/evaluations", json={"route": "iv"})
    assert evaluation.status_code == 201, evaluation.text
    evaluation_id = evaluation.json()["id"]
    signed = api["prescriber"].post(f"/api/v1/patients/{b1}/evaluations/{evaluation_id}/sign",
                                    json={"decision": "start"})
    assert signed.status_code == 200, signed.text
    chair = db.execute(select(Chair).where(Chair.site_pk == site_b.pk)).scalars().first()
    assert chair is not None
    opened = api["nurse_b"].post(f"/api/v1/patients/{b1}/treatment-sessions", json={
        "evaluation_id": evaluation_id, "chair_id": str(chair.id)})
    assert opened.status_code == 201, opened.text
    session_id = opened.json()["id"]
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    reading = SessionReading(session_pk=session.pk, taken_at=now, systolic_mmhg=190,
                             source="manual", created_by="nurse_b")
    db.add(reading)
    db.flush()
    alarm = SessionAlarm(session_pk=session.pk, reading_pk=reading.pk, kind="systolic_high",
                         value=190, message="BP high", source="test", raised_at=now,
                         created_by="nurse_b")
    appointment = Appointment(site_pk=site_b.pk, patient_pk=patient.pk, kind="infusion",
                              starts_at=now + timedelta(days=2),
                              ends_at=now + timedelta(days=2, hours=2), created_by="nurse_b")
    nurse_b = db.execute(select(User).where(User.username == "nurse_b")).scalar_one()
    feed = CalendarFeed(token_hash=uuid.uuid4().hex, user_pk=nurse_b.pk, created_by="nurse_b")
    measure = api["nurse_b"].post(f"/api/v1/patients/{b1}/measures", json={
        "instrument": "phq9", "answers": [3, 3, 3, 3, 3, 3, 3, 3, 3]})
    assert measure.status_code == 201, measure.text
    alert = db.execute(select(MeasureAlert).where(MeasureAlert.patient_pk == patient.pk)
                       ).scalars().first()
    assert alert is not None
    link = api["nurse_b"].post(f"/api/v1/patients/{b1}/measure-links",
                               json={"instruments": ["phq9"]})
    assert link.status_code == 201, link.text
    request = db.execute(select(MeasureRequest).where(MeasureRequest.patient_pk == patient.pk)
                         ).scalars().first()
    assert request is not None
    coverage = api["admin"].post(f"/api/v1/patients/{b1}/coverages", json={
        "payer": "Payer B", "member_id": "B-123", "routes": ["iv"]})
    assert coverage.status_code == 201, coverage.text
    product = api["admin"].post("/api/v1/inventory/products", json={
        "name": "Ketamine 50 mg/mL 10 mL", "drug": "ketamine", "ndc": "12345-678-90",
        "mg_per_container": "500", "concentration_mg_per_ml": "50", "volume_ml": "10"})
    assert product.status_code == 201, product.text
    cabinet = api["admin"].post("/api/v1/inventory/cabinets", json={"site": "B",
                                                                    "name": "Safe B"})
    assert cabinet.status_code == 201, cabinet.text
    received = api["admin"].post("/api/v1/inventory/receipts", json={
        "product_id": product.json()["id"], "location_id": cabinet.json()["id"],
        "lot_number": "LOTB", "expires_on": str(now.date() + timedelta(days=600)),
        "supplier": "Supplier", "invoice": "INV-B", "count": 1})
    assert received.status_code == 201, received.text
    container_id = received.json()[0]["id"]
    txn_id = db.execute(text("SELECT txn_id FROM inventory_ledger ORDER BY pk DESC LIMIT 1")
                        ).scalar_one()
    discrepancy = Discrepancy(site_pk=site_b.pk, kind="session", session_pk=session.pk,
                              expected_mg=50, found_mg=40, detail="10 mg unaccounted",
                              opened_at=now, created_by="nurse_b")
    on_call = OnCall(site_pk=site_b.pk, user_pk=nurse_b.pk, starts_at=now,
                     ends_at=now + timedelta(hours=8), created_by="admin")
    access = EmergencyAccess(user_pk=nurse_b.pk, patient_pk=patient.pk, reason="test access",
                             starts_at=now, ends_at=now + timedelta(hours=1), created_by="nurse_b")
    db.add_all([alarm, appointment, feed, discrepancy, on_call, access])
    db.flush()
    entry = db.execute(select(Condition).where(Condition.patient_pk == patient.pk)
                       ).scalars().first()
    assert entry is not None
    monitor_feed.ingest_group(db=db, messages=[monitor_feed.Incoming(
        PCD01.replace("HPC^Chair 2^1", "B^B1^1").replace("MSG0001", "B-REJECTED"), "gw-b")])
    message = db.execute(select(MonitorMessage).where(MonitorMessage.control_id == "B-REJECTED")
                         ).scalar_one()
    assert message.site_pk == site_b.pk
    client = api["admin"].post("/api/v1/clients", json={
        "name": "Site B exporter", "kind": "backend-service", "site": "B", "jwks": {"keys": [{
            "kty": "EC", "crv": "P-384", "kid": "b1",
            "x": "spMA4BOPbgEG5C-73ZK-6_qSxMKzgbVC6AZwCSURG2ePfBsbDXM4R88oE6XhP5fy",
            "y": "AhkPByUkZf9nHmziB9_kLiWUPEUdsKjtmlvBh8zuumdTD_LCXRYak0xwA1FOldyf"}]}})
    assert client.status_code == 201, client.text
    ids = {"patient_id": b1, "message_id": str(message.id), "client_ref": client.json()["id"],
           "entry_id": str(entry.id),
           "evaluation_id": evaluation_id,
           "course_id": evaluation_id, "session_id": session_id, "treatment_session_id": session_id,
           "alarm_id": str(alarm.id),
           "appointment_id": str(appointment.id), "feed_id": str(feed.id),
           "discrepancy_id": str(discrepancy.id), "txn_id": str(txn_id),
           "coverage_id": coverage.json()["id"], "alert_id": str(alert.id),
           "access_id": str(access.id), "shift_id": str(on_call.id),
           "cabinet_id": cabinet.json()["id"], "request_id": str(request.id),
           "user_id": str(nurse_b.id), "container_id": container_id,
           "measure_id": measure.json()["id"],
           "chair_id": str(chair.id), "product_id": product.json()["id"]}
    return SiteB(ids=ids, names=["TestP_B1"])


@pytest.fixture
def site_b(api, world, db: Session) -> SiteB:
    """Site B's records, made before the site-A users try them."""
    return _site_b_records(api, world, db)


@pytest.fixture
def site_a_users(app, db: Session, world) -> dict[str, tuple[TestClient, TestClient, Role]]:
    """(API client, page client, role) of a user of each staff role working only at site A."""
    users = {"nurse_a": world.users["nurse_a"], "frontdesk": world.users["frontdesk"],
             "patient_a1": world.users["patient_a1"],
             "prescriber_a": _new_user(db, "prescriber_a", "prescriber"),
             "admin_a": _new_user(db, "admin_a", "admin")}
    clients = {}
    for name, user in users.items():
        api_client = TestClient(app, base_url=BASE_URL)
        api_client.headers["Authorization"] = f"Bearer {api_token(api_client, user)}"
        page_client = web_login(TestClient(app, base_url=BASE_URL), user)
        clients[name] = (api_client, page_client, Role(user.role))
    return clients


def _snapshot(db: Session) -> dict[str, list[tuple[Any, ...]]]:
    db.flush()
    return {table.name: sorted(tuple(str(v) for v in row) for row in
                               db.execute(table.select()).all())
            for table in Base.metadata.sorted_tables if table.name not in CHANGED_BY_ANY_REQUEST}


def _changed(before: dict[str, list[tuple[Any, ...]]], db: Session) -> list[str]:
    after = _snapshot(db)
    return [name for name in before if before[name] != after[name]]


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: {"kind": "conditions", "action": "unlock",
                                         "resource_type": "Condition",
                                         "resource_id": ids["entry_id"]}.get(
        m.group(1), ids.get(m.group(1), m.group(0))), path)


def _write_routes(app) -> Iterator[tuple[str, str, Any]]:
    for route in registered_routes(app):
        if route.method in ("POST", "PUT", "PATCH", "DELETE") and "{" in route.path \
                and route.permission is not None:
            yield route.method, route.path, route.permission


def _allowed(clients, permission) -> list[str]:
    return [name for name, (_, _, role) in clients.items() if allows(role, permission)]


def test_every_page_write_with_another_site_s_ids_is_refused(app, db: Session, site_b: SiteB,
                                                             site_a_users) -> None:
    before = _snapshot(db)
    tried, wrong = 0, []
    for method, path, permission in _write_routes(app):
        if path.startswith(BEARER_PREFIXES):
            continue
        for name in _allowed(site_a_users, permission):
            page = site_a_users[name][1]
            csrf = csrf_of(page.get("/account").text)
            filled = _fill(path, site_b.ids)
            assert "{" not in filled, path
            response = page.request(method, filled, data={"csrf_token": csrf},
                                    follow_redirects=False)
            tried += 1
            leaked = [n for n in site_b.names if n in response.text]
            if response.status_code not in (403, 404) or leaked:
                wrong.append((name, method, path, response.status_code, leaked))
    assert wrong == [], '\n'.join(map(str, wrong))
    assert tried >= 40
    assert _changed(before, db) == []


def test_every_api_write_with_another_site_s_ids_in_its_path_is_refused(
        app, db: Session, site_b: SiteB, site_a_users) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = {(op.method.upper(), op.path): op
                  for op in (result.ok() for result in schema.get_all_operations())}
    before = _snapshot(db)
    tried, wrong = 0, []
    for method, path, permission in _write_routes(app):
        if not path.startswith(API_PREFIX):  # FHIR writes: the test below, with real resources
            continue
        operation = operations[(method, path)]
        for name in _allowed(site_a_users, permission):
            _try_with_another_site_s_ids(operation, site_a_users[name][0], site_b,
                                         lambda status, text, n=name, m=method, p=path:
                                         wrong.append((n, m, p, status, text)))
            tried += 1
    assert wrong == [], '\n'.join(map(str, wrong))
    assert tried >= 40
    assert _changed(before, db) == []


def _try_with_another_site_s_ids(operation: Any, client: TestClient, site_b: SiteB,
                                 report: Any) -> None:
    """Schema-valid requests to the operation with site B's ids in its path: anything but 403,
    404 or a 422 for the body, an answer naming site B's patient, or no 403/404 at all is
    reported."""
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def refused(case: schemathesis.Case) -> None:
        case.path_parameters = {key: _fill("{" + key + "}", site_b.ids)
                                for key in case.path_parameters or {}}
        response = case.call(headers={"Authorization": client.headers["Authorization"]})
        leaked = [n for n in [*site_b.names, site_b.ids["patient_id"]]
                  if n in response.text and n not in case.formatted_path]
        statuses.append(response.status_code)
        if response.status_code not in (403, 404, 422) or leaked:
            report(response.status_code, response.text[:200])

    statuses: list[int] = []
    refused()
    if not {403, 404} & set(statuses):  # a 422 only: the reach check never had its turn
        report(statuses, "never refused for reach")


def _api_writes_naming_site_b(ids: dict[str, str], a_cabinet: str
                              ) -> list[tuple[str, str, dict[str, Any], str]]:
    """(user, path, body, the field that names site B's record) for every API write whose
    body, not its path, names a site or a record."""
    later = str(clock.now().date() + timedelta(days=30))
    witness = {"username": "nurse_a", "password": PASSWORD}
    return [
        ("frontdesk", "/api/v1/patients", {"family_name": "X", "given_name": "Y",
                                           "birth_date": "1980-01-01", "sex": "male",
                                           "site": "B"}, "site"),
        ("frontdesk", "/api/v1/appointments", {"patient_id": ids["patient_id"], "site": "B",
                                               "kind": "consult",
                                               "starts_at": later + "T10:00:00-08:00"},
         "site"),
        ("frontdesk", "/api/v1/appointments", {"patient_id": ids["patient_id"], "site": "A",
                                               "kind": "consult",
                                               "starts_at": later + "T10:00:00-05:00"},
         "patient_id"),
        ("frontdesk", "/api/v1/calendar-feeds", {"patient_id": ids["patient_id"]}, "patient_id"),
        ("frontdesk", "/api/v1/billing/estimates", {"site": "B", "route": "iv", "sessions": 6,
                                                    "weight_kg": 70}, "site"),
        ("frontdesk", "/api/v1/billing/estimates", {"site": "A", "route": "iv", "sessions": 6,
                                                    "weight_kg": 70,
                                                    "patient_id": ids["patient_id"]},
         "patient_id"),
        ("admin_a", "/api/v1/billing/prices", {"site": "B", "item": "96365",
                                               "amount_cents": 1, "effective_from": later},
         "site"),
        ("admin_a", "/api/v1/billing/packages", {"site": "B", "name": "Cheap", "route": "iv",
                                                 "sessions": 6, "amount_cents": 1,
                                                 "effective_from": later}, "site"),
        ("admin_a", "/api/v1/billing/bands", {"site": "B", "name": "All", "discount_pct": 90,
                                              "income_up_to_cents": 100000000,
                                              "effective_from": later}, "site"),
        ("admin_a", "/api/v1/inventory/cabinets", {"site": "B", "name": "Mine now"}, "site"),
        ("admin_a", "/api/v1/inventory/receipts", {
            "product_id": ids["product_id"], "location_id": ids["cabinet_id"], "lot_number": "L",
            "expires_on": later, "supplier": "S", "invoice": "I", "count": 1}, "location_id"),
        ("admin_a", "/api/v1/inventory/transfers", {"container_id": ids["container_id"],
                                                    "location_id": a_cabinet}, "container_id"),
        ("admin_a", "/api/v1/inventory/adjustments", {
            "container_id": ids["container_id"], "delta_mg": "-10", "reason": "counted short",
            "witness": witness}, "container_id"),
        ("admin_a", "/api/v1/inventory/destructions", {
            "container_id": ids["container_id"], "reason": "expired vial", "witness": witness},
         "container_id"),
        ("admin_a", "/api/v1/inventory/returns", {"container_id": ids["container_id"],
                                                  "reason": "recalled lot"}, "container_id"),
        ("nurse_a", "/api/v1/inventory/draws", {"container_id": ids["container_id"],
                                                "session_id": ids["session_id"],
                                                "quantity_mg": "50"}, "container_id"),
        ("nurse_a", "/api/v1/inventory/doses", {"container_id": ids["container_id"],
                                                "session_id": ids["session_id"],
                                                "quantity_mg": "35",
                                                "prescriber": "prescriber"}, "container_id"),
        ("nurse_a", "/api/v1/inventory/wastes", {"container_id": ids["container_id"],
                                                 "session_id": ids["session_id"],
                                                 "quantity_mg": "15", "witness": witness},
         "container_id"),
        ("nurse_a", "/api/v1/inventory/counts", {
            "location_id": ids["cabinet_id"], "first": {ids["container_id"]: "0"},
            "second": {ids["container_id"]: "0"}, "second_counter": witness}, "location_id"),
    ]


def test_every_api_write_naming_another_site_s_record_in_its_body_is_refused(
        app, db: Session, site_b: SiteB, site_a_users) -> None:
    a_cabinet = site_a_users["admin_a"][0].post("/api/v1/inventory/cabinets", json={
        "site": "A", "name": "Safe A"})
    assert a_cabinet.status_code == 201, a_cabinet.text
    before = _snapshot(db)
    wrong = []
    for name, path, body, field in _api_writes_naming_site_b(site_b.ids, a_cabinet.json()["id"]):
        response = site_a_users[name][0].post(path, json=body)
        fields = [e["field"] for e in response.json().get("errors", [])]
        refused = response.status_code in (403, 404) or (
            response.status_code == 422 and fields == [field])
        leaked = [n for n in site_b.names if n in response.text]
        if not refused or leaked:
            wrong.append((name, path, field, response.status_code, response.text[:300]))
    assert wrong == [], "\n".join(map(str, wrong))
    assert _changed(before, db) == []


def test_every_fhir_write_into_another_site_s_chart_is_refused(
        app, db: Session, site_b: SiteB, site_a_users) -> None:
    b1, entry = site_b.ids["patient_id"], site_b.ids["entry_id"]
    condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{b1}"},
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "47505003",
                                      "display": "PTSD"}]},
                 "clinicalStatus": {"coding": [{"code": "active"}]}}
    before = _snapshot(db)
    writes = [("POST", "/fhir/Condition", condition),
              ("PUT", f"/fhir/Condition/{entry}", {**condition, "id": entry}),
              ("PUT", f"/fhir/Patient/{b1}", {**NEW_PATIENT, "id": b1}),
              ("POST", "/fhir/QuestionnaireResponse", phq9_response(b1, [0] * 9)),
              ("POST", "/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": [{
                  "fullUrl": "urn:uuid:c1", "resource": condition,
                  "request": {"method": "POST", "url": "Condition"}}]})]
    wrong = []
    for method, path, body in writes:
        for name in ("nurse_a", "prescriber_a"):
            response = site_a_users[name][0].request(method, path, json=body)
            if response.status_code not in (403, 404) or "TestP_B1" in response.text \
                    or response.json()["resourceType"] != "OperationOutcome" \
                    or "already imported" in response.text:
                wrong.append((name, method, path, response.status_code, response.text[:300]))
    assert wrong == [], "\n".join(map(str, wrong))
    assert _changed(before, db) == []


def test_every_form_naming_another_site_is_refused(app, db: Session, site_b: SiteB,
                                                   site_a_users) -> None:
    later = str(clock.now().date() + timedelta(days=30))
    forms = [("frontdesk", "/patients/new", {"family_name": "X", "given_name": "Y",
                                             "birth_date": "1980-01-01", "sex": "male",
                                             "site": "B"}),
             ("admin_a", "/inventory/receive", {
                 "product_id": site_b.ids["product_id"], "location_id": site_b.ids["cabinet_id"],
                 "lot_number": "L", "expires_on": later, "supplier": "S", "invoice": "I",
                 "count": "1"}),
             ("admin_a", "/on-call", {"site": "B", "username": "nurse_b",
                                      "starts_at": later + "T08:00", "ends_at": later + "T18:00"}),
             ("admin_a", "/admin/users/new", {"username": "new_b", "display_name": "New B",
                                              "role": "nurse", "sites": "B",
                                              "password": "a-long-enough-password-1"}),
             ("admin_a", "/admin/users/new", {"username": "patient_b", "display_name": "Pat B",
                                              "role": "patient", "patient_id": site_b.ids[
                                                  "patient_id"],
                                              "password": "a-long-enough-password-1"})]
    before = _snapshot(db)
    wrong = []
    for name, path, form in forms:
        page = site_a_users[name][1]
        csrf = csrf_of(page.get("/account").text)
        response = page.post(path, data={**form, "csrf_token": csrf}, follow_redirects=False)
        if response.status_code not in (403, 404, 422) or "TestP_B1" in response.text:
            wrong.append((name, path, response.status_code, response.text[:300]))
    assert wrong == [], "\n".join(map(str, wrong))
    assert _changed(before, db) == []
