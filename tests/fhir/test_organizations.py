"""Sites as Organizations, chairs as Locations, and the site of an import from its data."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Site
from tests.fhir.test_fhir_api import NEW_PATIENT, valid

SITE = "https://ketaclinic.org/site"


def site_id(db: Session, code: str) -> str:
    return str(db.execute(select(Site.id).where(Site.code == code)).scalar_one())


def transaction(*patients: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{i}", "resource": p,
         "request": {"method": "POST", "url": "Patient"}} for i, p in enumerate(patients)]}


def registered_site(api, location: str) -> str:
    patient = api["prescriber"].get(f"/fhir/{location}").json()
    return patient["identifier"][0]["system"].rsplit("/", 1)[1]


def test_sites_read_as_organizations_and_chairs_as_locations(api, db: Session) -> None:
    both = api["prescriber"].get("/fhir/Organization").json()
    assert [e["resource"]["identifier"][0]["value"] for e in both["entry"]] == ["A", "B"]
    for entry in both["entry"]:
        valid(entry["resource"])
    only_a = api["nurse_a"].get("/fhir/Organization").json()
    assert [e["resource"]["name"] for e in only_a["entry"]] == ["Site A"]
    by_identifier = api["prescriber"].get("/fhir/Organization", params={
        "identifier": f"{SITE}|B"}).json()
    assert [e["resource"]["id"] for e in by_identifier["entry"]] == [site_id(db, "B")]
    chairs = api["prescriber"].get("/fhir/Location", params={
        "organization": f"Organization/{site_id(db, 'A')}"}).json()
    assert sorted(e["resource"]["name"] for e in chairs["entry"]) == ["Site A: A1", "Site A: A2"]
    one = chairs["entry"][0]["resource"]
    valid(one)
    assert api["nurse_a"].get(f"/fhir/Location/{one['id']}").json()["id"] == one["id"]
    site_b_chair = api["prescriber"].get("/fhir/Location", params={"name": "B1"}).json()
    b1 = site_b_chair["entry"][0]["resource"]["id"]
    assert api["nurse_a"].get(f"/fhir/Location/{b1}").status_code == 404
    assert api["nurse_a"].get(f"/fhir/Organization/{site_id(db, 'B')}").status_code == 404
    capability = api["prescriber"].get("/fhir/metadata").json()
    offered = {r["type"]: {p["name"] for p in r["searchParam"]}
               for r in capability["rest"][0]["resource"]}
    assert {"identifier", "name"} <= offered["Organization"]
    assert "organization" in offered["Location"]


def test_a_patient_names_its_site_s_organization(api, world) -> None:
    patient = api["patient_a1"].get(f"/fhir/Patient/{world.patients['p_a1']}").json()
    assert patient["managingOrganization"]["display"] == "Site A"
    organization = api["patient_a1"].get(
        f"/fhir/{patient['managingOrganization']['reference']}")
    assert organization.status_code == 200 and organization.json()["name"] == "Site A"
    assert [e["resource"]["name"] for e in api["patient_a1"].get(
        "/fhir/Organization").json()["entry"]] == ["Site A"]


def test_a_multi_site_import_chooses_its_site_from_managing_organization(api, db: Session
                                                                         ) -> None:
    to_b = {**NEW_PATIENT, "managingOrganization": {"reference": f"Organization/{site_id(db, 'B')}"}}
    to_a = {**NEW_PATIENT, "name": [{"family": "Mensah", "given": ["Kofi"]}],
            "managingOrganization": {"identifier": {"system": SITE, "value": "A"}}}
    answer = api["prescriber"].post("/fhir", json=transaction(to_b, to_a))
    assert answer.status_code == 200, answer.text
    locations = [e["response"]["location"] for e in answer.json()["entry"]]
    assert [registered_site(api, loc) for loc in locations] == ["B", "A"]
    created = api["prescriber"].post("/fhir/Patient", json={
        **NEW_PATIENT, "name": [{"family": "Ito", "given": ["Rin"]}],
        "managingOrganization": {"reference": f"Organization/{site_id(db, 'B')}"}})
    assert created.status_code == 201, created.text
    assert created.json()["managingOrganization"]["reference"] == f"Organization/{site_id(db, 'B')}"


def test_without_managing_organization_a_multi_site_user_is_told_what_to_send(api, db: Session
                                                                             ) -> None:
    for answer in (api["prescriber"].post("/fhir", json=transaction(NEW_PATIENT)),
                   api["prescriber"].post("/fhir/Patient", json={
                       **NEW_PATIENT, "managingOrganization": {
                           "reference": "Organization/hospital-elsewhere"}})):
        assert answer.status_code == 422, answer.text
        outcome = answer.json()
        assert outcome["resourceType"] == "OperationOutcome"
        text = outcome["issue"][0]["diagnostics"]
        assert outcome["issue"][0]["expression"] == ["Patient.managingOrganization"]
        assert "several sites" in text and f"Organization/{site_id(db, 'A')}" in text


def test_a_site_that_is_not_the_user_s_is_refused_and_one_site_needs_nothing(api, db: Session
                                                                            ) -> None:
    elsewhere = {**NEW_PATIENT, "managingOrganization": {
        "reference": f"Organization/{site_id(db, 'B')}"}}
    refused = api["nurse_a"].post("/fhir", json=transaction(elsewhere))
    assert refused.status_code == 422 and "is not one of your sites" in refused.text
    plain = api["nurse_a"].post("/fhir", json=transaction(NEW_PATIENT))
    assert plain.status_code == 200, plain.text
    assert registered_site(api, plain.json()["entry"][0]["response"]["location"]) == "A"
