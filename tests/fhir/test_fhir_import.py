"""Importing the Synthea bundles through the CLI and POST /fhir: counts, idempotence, rejection."""

import copy
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.db import make_engine
from ketaclinic.fhir.models import ImportedResource
from ketaclinic.fhir.record import record_from_bundle
from ketaclinic.knowledge.screening import screen
from ketaclinic.patients.models import Condition, Medication, Patient, VitalSigns
from ketaclinic.patients.record import screening_record
from tests import fhir_builders as fb
from tests.cli_helpers import run_cli
from tests.conftest import BACKENDS, drop_postgres_database, fresh_database_url
from tests.examples import SYNTHEA

KEPT = {"Patient": Patient, "Condition": Condition, "MedicationRequest": Medication,
        "Observation": VitalSigns}


def bundle_counts() -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in SYNTHEA.glob("*.json"):
        for entry in json.loads(path.read_bytes())["entry"]:
            counts[entry["resource"]["resourceType"]] += 1
    return counts


def db_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with Session(engine) as db:
        found = {name: db.execute(select(func.count()).select_from(model)).scalar_one()
                 for name, model in KEPT.items()}
        remembered = Counter(dict(db.execute(select(ImportedResource.resource_type, func.count())
                                             .group_by(ImportedResource.resource_type)).all()))
        created = Counter(dict(db.execute(select(ImportedResource.resource_type, func.count())
                                          .where(ImportedResource.outcome == "created")
                                          .group_by(ImportedResource.resource_type)).all()))
    engine.dispose()
    return {**found, "remembered": remembered, "created": created}  # type: ignore[dict-item]


@pytest.fixture(scope="module", params=BACKENDS)
def clinic(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path_factory.mktemp("import"))
    for args in (("db", "upgrade"), ("sites", "create", "--code", "BOS", "--name", "Boston",
                                     "--time-zone", "America/New_York", "--network", "Test")):
        assert run_cli(url, *args).returncode == 0
    yield url
    if request.param == "postgresql":
        drop_postgres_database(url)


def test_cli_imports_every_bundle_once_with_counts_that_match(clinic: str) -> None:
    first = run_cli(clinic, "import-fhir", str(SYNTHEA), "--site", "BOS")
    assert first.returncode == 0, first.stderr + first.stdout
    assert first.stdout.count(": created ") == 12
    counts = db_counts(clinic)
    expected = bundle_counts()
    assert counts["remembered"] == expected, "every entry is accounted for, per type"
    assert counts["Patient"] == 12 and counts["Condition"] == expected["Condition"]
    for name in ("Patient", "Condition", "MedicationRequest", "Observation"):
        assert counts[name] == counts["created"][name], name
    again = run_cli(clinic, "import-fhir", str(SYNTHEA), "--site", "BOS")
    assert again.returncode == 0
    assert again.stdout.count("created 0 (none)") == 12
    assert db_counts(clinic) == counts


def test_a_broken_bundle_is_rejected_whole(clinic: str, tmp_path: Path) -> None:
    bundle = json.loads(next(SYNTHEA.glob("Bill567*.json")).read_bytes())
    broken = copy.deepcopy(bundle)
    index = next(i for i, e in enumerate(broken["entry"]) if e["resource"]["resourceType"] == "Condition")
    broken["entry"][index]["resource"]["onsetDateTime"] = "the spring of last year"
    broken["entry"][0]["fullUrl"] = "urn:uuid:00000000-0000-4000-8000-000000000001"  # a new patient
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    before = db_counts(clinic)
    result = run_cli(clinic, "import-fhir", str(path), "--site", "BOS")
    assert result.returncode == 1
    assert f"Entry {index + 1}, onsetDateTime:" in result.stdout, result.stdout
    assert "'the spring of last year' is not a FHIR DateTime" in result.stdout
    assert "nothing stored" in result.stdout
    assert db_counts(clinic) == before


def test_post_transaction_bundle_imports_once(api, world, db: Session) -> None:
    bundle = json.loads(next(SYNTHEA.glob("Bill567*.json")).read_bytes())
    before = db.execute(select(func.count()).select_from(Patient)).scalar_one()
    response = api["nurse_a"].post("/fhir", content=json.dumps(bundle),
                                   headers={"content-type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "transaction-response" and len(body["entry"]) == len(bundle["entry"])
    assert body["entry"][0]["response"]["status"] == "201 Created"
    patient_ref = body["entry"][0]["response"]["location"]
    assert api["nurse_a"].get(f"/fhir/{patient_ref}").json()["name"][0]["family"] == "Breitenberg711"
    assert db.execute(select(func.count()).select_from(Patient)).scalar_one() == before + 1
    everything = api["nurse_a"].get(f"/fhir/{patient_ref}/$everything").json()
    get_fhir_model_class("Bundle").model_validate(everything)
    for entry in everything["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    assert len(everything["entry"]) > 40
    # Synthea lists its conditions as encounter diagnoses, and they stay so
    categories = {e["resource"]["category"][0]["coding"][0]["code"]
                  for e in everything["entry"] if e["resource"]["resourceType"] == "Condition"}
    assert categories == {"encounter-diagnosis"}
    again = api["nurse_a"].post("/fhir", content=json.dumps(bundle)).json()
    assert {e["response"]["status"] for e in again["entry"]} == {"200 OK"}
    assert db.execute(select(func.count()).select_from(Patient)).scalar_one() == before + 1


def test_post_broken_bundle_names_the_entry(api, db: Session) -> None:
    bundle = json.loads(next(SYNTHEA.glob("Bill567*.json")).read_bytes())
    bundle["entry"][3]["resource"]["status"] = 42
    before = db.execute(select(func.count()).select_from(Patient)).scalar_one()
    response = api["nurse_a"].post("/fhir", content=json.dumps(bundle))
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["entry[3].status"]
    assert db.execute(select(func.count()).select_from(Patient)).scalar_one() == before
    assert api["patient_a1"].post("/fhir", content=json.dumps(bundle)).status_code == 403


def _in_words(reference: str) -> list[dict[str, object]]:
    """An allergy, a problem and a medication an EHR sends with words but no known code, and an
    allergy with a local code alone, for the patient the reference names."""
    subject = {"reference": reference}
    return [
        {"resourceType": "AllergyIntolerance", "patient": subject, "code": {"text": "Ketamine"},
         "clinicalStatus": {"coding": [{"system": fb.ALLERGY_CLINICAL, "code": "active"}]}},
        {"resourceType": "Condition", "subject": subject, "code": {"coding": [
            {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.696871", "code": "123",
             "display": "Schizophrenia"}], "text": "Schizophrenia"},
         "clinicalStatus": {"coding": [{"system": fb.CLINICAL, "code": "active"}]}},
        {"resourceType": "MedicationStatement", "status": "active", "subject": subject,
         "medicationCodeableConcept": {"text": "Lorazepam 1 MG Oral Tablet"},
         "effectivePeriod": {"start": "2026-01-01"},
         "dosage": [{"text": "1 tablet twice daily",
                     "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]},
        {"resourceType": "AllergyIntolerance", "patient": subject, "code": {"coding": [
            {"system": "urn:oid:1.2.3", "code": "77"}]}}]


def test_entries_with_words_but_no_known_code_are_kept_and_screened(api, world, db: Session) -> None:
    """An EHR's allergy to 'Ketamine' sent as text, a problem coded in its own system
    ('Schizophrenia'), a medication named in words: screening an EHR's record reads their words
    (a contraindication and two cautions), but the importer dropped them for want of a known
    code, and the chart screened eligible."""
    pid = world.patients["p_a1"]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r,
         "request": {"method": "POST", "url": r["resourceType"]}}
        for r in _in_words(f"Patient/{pid}")]}
    response = api["nurse_a"].post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["201 Created"] * 3 + ["200 OK"]  # a local code with no words: nothing to read
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    db.refresh(patient)
    charted = {f.rule for f in screen(screening_record(patient), route="iv", on=fb.ON).findings}
    sent = record_from_bundle(fb.bundle(*fb.baseline(), *[
        {**r, "id": f"e{n}"} for n, r in enumerate(_in_words("Patient/p1"))]))
    wanted = {"ketamine-hypersensitivity", "psychotic-disorder", "benzodiazepine-load"}
    assert wanted <= charted
    assert wanted <= {f.rule for f in screen(sent, route="iv", on=fb.ON).findings}
    for entry in response.json()["entry"][:3]:
        read = api["nurse_a"].get(f"/fhir/{entry['response']['location']}").json()
        get_fhir_model_class(read["resourceType"]).model_validate(read)


def test_every_coding_of_an_entry_is_kept_and_screened(api, world, db: Session) -> None:
    """A problem an EHR codes in SNOMED CT and in ICD-10-CM: the chart kept the first code it
    accepts, a SNOMED CT concept no rule lists, and dropped F25.9 (schizoaffective disorder),
    the one the psychotic-disorder rule knows; screening the bundle read both."""
    pid = world.patients["p_a1"]
    problem = {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"},
               "clinicalStatus": {"coding": [{"system": fb.CLINICAL, "code": "active"}]},
               "code": {"coding": [
                   {"system": fb.SNOMED, "code": "68890003", "display": "Schizoaffective disorder"},
                   {"system": fb.ICD10, "code": "F25.9", "display": "Schizoaffective disorder, "
                                                                   "unspecified"},
                   {"system": "urn:oid:2.16.840.1.113883.3.247.1.1", "code": "1234"}]}}
    created = api["nurse_a"].post("/fhir/Condition", json=problem)
    assert created.status_code == 201, created.text
    assert [c["code"] for c in created.json()["code"]["coding"]] == ["68890003", "F25.9", "1234"]
    get_fhir_model_class("Condition").model_validate(created.json())
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    db.refresh(patient)
    found = {f.rule for f in screen(screening_record(patient), route="iv", on=fb.ON).findings}
    assert "psychotic-disorder" in found
