"""Reach on every read path: a user who works only at site A, asking each read route their
role may use for site B's records (by id in the path, or by site in the query), is refused with
403 or 404, or shown a list without them: never site B's patient."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.billing import charges
from ketaclinic.chair import live_changes
from ketaclinic.fhir import store
from ketaclinic.inventory.models import Container
from ketaclinic.treatments.models import GivenDose, TreatmentSession
from ketaclinic.web.routes import registered_routes
from tests.billing.test_charges import DESK, price_list
from tests.conftest import PASSWORD, totp_now
from tests.fhir.test_bulk_export import export
from tests.web.test_write_reach import SiteB, _allowed, _fill, _site

# A bulk export begun (a job written, its reach tested in tests/fhir/test_bulk_export.py); the
# login's authorize page. The live streams are walked, each ending at once (`streams_end`).
NOT_WALKED = {"/fhir/$export", "/fhir/Patient/$export", "/fhir/Group/{group_id}/$export",
              "/oauth/authorize"}
# Path parameters that name a kind of list, not a record: each of its values is walked as a list.
LIST_KINDS = {"/inventory/reports/{kind}": ("inventory", "dispensing", "usage", "form-106"),
              "/api/v1/billing/reports/{kind}": ("revenue", "outstanding", "cost-per-responder",
                                                 "claims"),
              "/fhir/{resource_type}": ("Patient", *store.COMPARTMENT_TYPES)}


@pytest.fixture(autouse=True)
def streams_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """A live page's stream (server-sent events) ends as soon as it has begun, so that a test
    client, which waits for a response's end, walks it as any other read."""
    monkeypatch.setattr(live_changes, "STREAM_MAX_S", 0)


@pytest.fixture
def site_b(api, world, db: Session, site_b: SiteB) -> SiteB:
    """Site B's records (the write tests'), with those only reads name: an invoice, a payment,
    a cabinet count and a bulk export of site B."""
    ids = site_b.ids
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(ids["session_id"]))).scalar_one()
    start = clock.now() - timedelta(hours=3)
    session.dose_start, session.dose_end = start, start + timedelta(minutes=40)
    session.dose_given = GivenDose(dose_mg=35, lot_number="K1", route="iv")
    session.ordered_by, session.status = "prescriber", "discharged"
    price_list(db, _site(db, "B"), clock.now().date() - timedelta(days=30))
    invoice = charges.charge_session(db=db, treatment_session=session, actor=DESK)
    payment = api["admin"].post(f"/api/v1/patients/{ids['patient_id']}/payments", json={
        "site": "B", "amount_cents": 5000, "method": "cash"})
    assert payment.status_code == 201, payment.text
    label = db.execute(select(Container.label).where(
        Container.id == uuid.UUID(ids["container_id"]))).scalar_one()
    count = api["nurse_b"].post("/api/v1/inventory/counts", json={
        "location_id": ids["cabinet_id"], "first": {label: "500"},
        "second": {label: "500"},
        "second_counter": {"username": "prescriber", "password": PASSWORD,
                           "totp_code": totp_now(world.users["prescriber"])}})
    assert count.status_code == 201, count.text
    manifest = export(api["prescriber"], "/fhir/Group/B/$export")
    file_url = manifest["output"][0]["url"].replace("https://testserver", "")
    job_id, file_id = file_url.rsplit("/", 2)[-2:]
    return SiteB({**ids, "invoice_id": str(invoice.id), "payment_id": payment.json()["id"],
                  "count_id": count.json()["id"], "job_id": job_id, "file_id": file_id},
                 site_b.names)


def _read_routes(app):
    for route in registered_routes(app):
        if route.method == "GET" and route.permission is not None and route.path not in NOT_WALKED:
            yield route.path, route.permission


def _client(users, name: str, path: str):
    api_client, page, _ = users[name]
    return api_client if path.startswith(("/api", "/fhir")) else page


def test_every_read_with_another_site_s_ids_is_refused(app, db: Session, site_b: SiteB,
                                                       site_a_users) -> None:
    ids = {**site_b.ids, "site_code": "B"}
    tried, unfilled, wrong = 0, [], []
    for path, permission in _read_routes(app):
        if "{" not in path or path in LIST_KINDS:
            continue
        filled = _fill(path, ids)
        if "{" in filled:
            unfilled.append(path)
            continue
        for name in _allowed(site_a_users, permission):
            response = _client(site_a_users, name, path).get(filled, follow_redirects=False)
            tried += 1
            leaked = [n for n in site_b.names if n in response.text]
            if response.status_code not in (403, 404) or leaked:
                wrong.append((name, path, response.status_code, leaked, response.text[:150]))
    assert wrong == [], "\n".join(map(str, wrong))
    assert unfilled == []
    assert tried >= 40


def test_no_list_or_report_shows_another_site_s_patient(app, db: Session, site_b: SiteB,
                                                        site_a_users) -> None:
    today = clock.now().date()
    site_b_query = {"site": "B", "start": str(today - timedelta(days=30)), "end": str(today),
                    "as_of": str(today)}
    b1 = site_b.ids["patient_id"]
    fhir_queries = ({"patient": b1}, {"subject": f"Patient/{b1}"}, {"_id": b1},
                    {"name": "TestP_B1"})
    tried, wrong = 0, []
    for path, permission in _read_routes(app):
        if "{" in path and path not in LIST_KINDS:
            continue
        lists = [path.replace(path[path.index("{"):path.index("}") + 1], kind)
                 for kind in LIST_KINDS[path]] if path in LIST_KINDS else [path]
        for name in _allowed(site_a_users, permission):
            for listed in lists:
                queries = fhir_queries if listed.startswith("/fhir/") else ({}, site_b_query)
                for query in queries:
                    response = _client(site_a_users, name, path).get(
                        listed, params=query, follow_redirects=False)
                    tried += 1
                    leaked = [n for n in [*site_b.names, b1] if n in response.text
                              and n not in str(response.request.url)]
                    if listed.startswith("/fhir/") and response.status_code == 200:
                        leaked += [f"total {response.json()['total']}"] * bool(
                            response.json()["total"])
                    if response.status_code >= 500 or leaked:
                        wrong.append((name, listed, query, response.status_code, leaked))
    assert wrong == [], "\n".join(map(str, wrong))
    assert tried >= 40
