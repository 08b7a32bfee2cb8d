"""Bulk Data export: kick-off, polling, NDJSON files whose line counts equal the database, access;
every resource of a demo database validates as FHIR R4."""

import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.db import make_engine
from ketaclinic.fhir import mapping, store
from ketaclinic.patients.models import Condition, Patient, VitalSigns
from tests.cli_helpers import run_cli

ASYNC = {"Prefer": "respond-async"}


def export(client, path: str = "/fhir/$export", **params) -> dict:
    kicked = client.get(path, params=params, headers=ASYNC)
    assert kicked.status_code == 202, kicked.text
    status = client.get(kicked.headers["content-location"].replace("https://testserver", ""))
    assert status.status_code == 200, status.text  # the test client runs the job before answering
    return status.json()


def download(client, manifest: dict) -> dict[str, list[dict]]:
    files = {}
    for output in manifest["output"]:
        response = client.get(output["url"].replace("https://testserver", ""))
        assert response.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert len(lines) == output["count"]
        files[output["type"]] = lines
    return files


def test_system_export_matches_the_database(api, world, db: Session) -> None:
    manifest = export(api["prescriber"])
    assert manifest["requiresAccessToken"] is True
    files = download(api["prescriber"], manifest)
    assert len(files["Patient"]) == db.execute(select(func.count()).select_from(Patient)).scalar_one()
    assert len(files["Condition"]) == db.execute(
        select(func.count()).select_from(Condition)).scalar_one()
    vitals = db.execute(select(VitalSigns)).scalars().all()
    assert len(files["Observation"]) == sum(len(mapping.vital_observations(v, "x")) for v in vitals)
    for resources in files.values():
        for resource in resources:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_type_since_and_group_filters(api, world) -> None:
    only = export(api["prescriber"], _type="Patient,Condition")
    assert {o["type"] for o in only["output"]} == {"Patient", "Condition"}
    later = export(api["prescriber"], _since="2999-01-01")
    assert later["output"] == []
    site_b = download(api["prescriber"], export(api["prescriber"], "/fhir/Group/B/$export"))
    assert [p["id"] for p in site_b["Patient"]] == [world.patients["p_b1"]]
    assert api["nurse_b"].get("/fhir/Group/A/$export", headers=ASYNC).status_code == 404
    bad = api["prescriber"].get("/fhir/$export", params={"_type": "Claim"}, headers=ASYNC)
    assert bad.status_code == 422 and bad.json()["resourceType"] == "OperationOutcome"
    assert api["prescriber"].get("/fhir/$export").status_code == 422  # no Prefer: respond-async


def test_a_patient_exports_only_their_own_record(api, world) -> None:
    files = download(api["patient_a1"], export(api["patient_a1"], "/fhir/Patient/$export"))
    assert [p["id"] for p in files["Patient"]] == [world.patients["p_a1"]]
    for resources in files.values():
        for resource in resources:
            subject = (resource.get("subject") or resource.get("patient") or {}).get("reference")
            assert subject in (None, f"Patient/{world.patients['p_a1']}")
    kicked = api["prescriber"].get("/fhir/$export", headers=ASYNC)
    status_url = kicked.headers["content-location"].replace("https://testserver", "")
    assert api["patient_a1"].get(status_url).status_code == 404, "someone else's export"


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('fhirdemo')}/demo.db"
    for args in (("db", "upgrade"), ("demo", "--patients", "14")):
        assert run_cli(url, *args).returncode == 0
    return url


def test_every_resource_of_the_demo_validates(demo_url: str) -> None:
    engine = make_engine(demo_url)
    seen = 0
    with Session(engine) as db:
        for patient in db.execute(select(Patient)).scalars():
            everything = [mapping.patient(patient)]
            for group in store.compartment(db, patient).values():
                everything += group
            for resource in everything:
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
                seen += 1
    engine.dispose()
    assert seen > 500


def test_export_fhir_command_writes_valid_ndjson(demo_url: str, tmp_path: Path) -> None:
    result = run_cli(demo_url, "export-fhir", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    files = sorted(tmp_path.glob("*.ndjson"))
    assert {f.stem for f in files} >= {"Patient", "Observation", "QuestionnaireResponse", "Encounter",
                                       "MedicationAdministration"}
    for path in files:
        for line in path.read_text().splitlines():
            resource = json.loads(line)
            assert resource["resourceType"] == path.stem
            get_fhir_model_class(path.stem).model_validate(resource)
    assert len((tmp_path / "Patient.ndjson").read_text().splitlines()) == 14
    bad = run_cli(demo_url, "export-fhir", "--out", str(tmp_path), "--since", "soon")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --since")
