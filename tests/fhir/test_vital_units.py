"""A vital sign sent through FHIR in another unit the vital signs profile allows (pounds,
inches, Fahrenheit) is stored in the clinic's unit, never as the number it came with; one sent
without the unit it needs, or in a unit not allowed for it, is refused naming the accepted
units, and nothing is stored."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.fhir.record import record_from_bundle
from ketaclinic.knowledge.vital_units import accepted_units, in_stored_unit
from ketaclinic.patients.models import VitalSigns
from tests import fhir_builders as fb

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _vital(pid: str, loinc: str, quantity: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": LOINC, "code": loinc}]},
            "effectiveDateTime": "2026-11-01T10:00:00+00:00", "valueQuantity": quantity}


@pytest.mark.parametrize(("loinc", "quantity", "stored"), [
    ("29463-7", {"value": 154, "unit": "lb"}, 69.85),
    ("29463-7", {"value": 154, "unit": "lb", "system": UCUM, "code": "[lb_av]"}, 69.85),
    ("29463-7", {"value": 70500, "unit": "g", "system": UCUM, "code": "g"}, 70.5),
    ("8302-2", {"value": 67, "unit": "in", "system": UCUM, "code": "[in_i]"}, 170.18),
    ("8310-5", {"value": 98.6, "unit": "°F", "system": UCUM, "code": "[degF]"}, 37.0),
    ("8310-5", {"value": 36.65, "unit": "°C"}, 36.65),
])
def test_a_value_in_another_allowed_unit_is_stored_in_the_clinics_unit(
        api, world, loinc: str, quantity: dict[str, Any], stored: float) -> None:
    created = api["nurse_a"].post("/fhir/Observation",
                                  json=_vital(world.patients["p_a1"], loinc, quantity))
    assert created.status_code == 201, created.text
    assert created.json()["valueQuantity"]["value"] == pytest.approx(stored)


@pytest.mark.parametrize(("loinc", "quantity", "accepted"), [
    ("29463-7", {"value": 154}, "kg, g, [lb_av]"),
    ("29463-7", {"value": 11, "unit": "stone"}, "kg, g, [lb_av]"),
    ("8302-2", {"value": 67}, "cm, [in_i]"),
    ("8310-5", {"value": 98.6, "unit": "F"}, "Cel, [degF]"),
    ("8867-4", {"value": 72, "unit": "/s", "system": UCUM, "code": "/s"}, "/min"),
])
def test_a_value_without_the_unit_it_needs_is_refused_naming_the_accepted_units(
        api, world, db: Session, loinc: str, quantity: dict[str, Any], accepted: str) -> None:
    pid = world.patients["p_a1"]
    before = db.execute(select(func.count()).select_from(VitalSigns)).scalar_one()
    refused = api["nurse_a"].post("/fhir/Observation", json=_vital(pid, loinc, quantity))
    assert refused.status_code == 422, refused.text
    assert "valueQuantity" in refused.text and accepted in refused.text, refused.text
    assert db.execute(select(func.count()).select_from(VitalSigns)).scalar_one() == before


def test_a_sign_with_one_allowed_unit_is_read_in_it_when_none_is_given(api, world) -> None:
    created = api["nurse_a"].post("/fhir/Observation",
                                  json=_vital(world.patients["p_a1"], "8867-4", {"value": 72}))
    assert created.status_code == 201, created.text
    assert created.json()["valueQuantity"]["value"] == 72


def test_screening_reads_a_weight_in_pounds_as_kilograms_and_skips_one_without_a_unit() -> None:
    pounds = fb.weight(0)
    pounds["valueQuantity"] = {"value": 154, "unit": "lbs"}
    unitless = fb.weight(0, days_before=1)
    unitless["valueQuantity"] = {"value": 154}
    record = record_from_bundle(fb.bundle(fb.patient(), pounds, unitless))
    assert [round(w.weight_kg, 2) for w in record.weights] == [69.85]


def test_a_loose_systolic_without_a_value_is_not_read_as_0() -> None:
    systolic = fb.weight(0)
    systolic["code"] = {"coding": [{"system": LOINC, "code": "8480-6"}]}
    systolic.pop("valueQuantity")
    diastolic = dict(systolic, id="d1", code={"coding": [{"system": LOINC, "code": "8462-4"}]},
                     valueQuantity={"value": 96, "unit": "mm[Hg]"})
    record = record_from_bundle(fb.bundle(fb.patient(), systolic, diastolic))
    assert [(p.systolic_mmhg, p.diastolic_mmhg) for p in record.blood_pressures] == [(None, 96)]


def test_every_accepted_unit_converts_its_reference_point() -> None:
    assert accepted_units("temperature_c")["[degF]"].apply(212) == pytest.approx(100)
    assert accepted_units("weight_kg")["[lb_av]"].apply(1) == 0.45359237
    assert accepted_units("height_cm")["[in_i]"].apply(1) == 2.54
    assert in_stored_unit("weight_kg", {"value": True, "unit": "kg"})[0] is None
    for field in ("systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "spo2_pct",
                  "respiratory_rate_per_min", "weight_kg", "height_cm", "temperature_c"):
        assert all(c.apply(0) == 0 for u, c in accepted_units(field).items() if u != "[degF]")


def _pressure_panel(pid: str, panel: dict[str, Any], systolic: float, diastolic: float,
                    when: str) -> dict[str, Any]:
    def component(code: str, value: float) -> dict[str, Any]:
        return {"code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}

    return {"resourceType": "Observation", "status": "final", "id": f"bp-{when[:10]}",
            "subject": {"reference": f"Patient/{pid}"}, "code": panel,
            "effectiveDateTime": when,
            "component": [component("8480-6", systolic), component("8462-4", diastolic)]}


# A pressure panel under an older panel code (LOINC 55284-4, 'Blood pressure systolic and
# diastolic'), or under its text alone: its components say what it is.
OTHER_PANELS = [{"coding": [{"system": LOINC, "code": "55284-4"}]}, {"text": "Blood pressure"}]


@pytest.mark.parametrize("panel", OTHER_PANELS)
def test_a_pressure_panel_is_read_by_its_components(api, world, panel: dict[str, Any]) -> None:
    """A panel not coded 85354-9 was skipped as 'not a vital sign' by the importer and not read
    by screening, so a high pressure in it gave way to an older normal one."""
    pid = world.patients["p_a1"]
    created = api["nurse_a"].post("/fhir/Observation", json=_pressure_panel(
        pid, panel, 188, 112, "2026-11-01T10:00:00+00:00"))
    assert created.status_code == 201, created.text
    values = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"]
              for c in created.json()["component"]}
    assert values == {"8480-6": 188, "8462-4": 112}


@pytest.mark.parametrize("panel", OTHER_PANELS)
def test_screening_reads_the_newest_pressure_whatever_its_panel_code(panel: dict[str, Any]
                                                                     ) -> None:
    from ketaclinic.knowledge.screening import screen

    newest = _pressure_panel("p1", panel, 188, 112, f"{fb.ON - timedelta(days=1)}T10:00:00+00:00")
    older = fb.blood_pressure(118, 76, days_before=5)
    record = record_from_bundle(fb.bundle(fb.patient(), fb.weight(70), older, newest))
    result = screen(record, route="iv", on=fb.ON)
    assert "blood-pressure-hazard" in {f.rule for f in result.findings}


def _side(pid: str, loinc: str, value: float, when: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                "observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": fb.LOINC, "code": loinc}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                              "code": "mm[Hg]"}}


def test_a_systolic_and_a_diastolic_sent_apart_are_one_pressure(api, world, db: Session) -> None:
    """An EHR that sends a systolic (8480-6) and a diastolic (8462-4) as Observations of their
    own: screening the bundle pairs them (190/115, the racemic-ketamine hazard), but the
    importer dropped both as 'not a vital sign', and the chart screened without the pressure."""
    from ketaclinic.knowledge.screening import screen
    from ketaclinic.patients.models import Patient
    from ketaclinic.patients.record import screening_record

    pid = world.patients["p_a1"]
    when = "2026-11-19T09:00:00+00:00"
    entries = [_side(pid, "8480-6", 190, when), _side(pid, "8462-4", 115, when),
               _side(pid, "8480-6", 150, "2026-11-18T09:00:00+00:00"),
               _side(pid, "8462-4", 170, "2026-11-18T09:00:00+00:00")]
    response = api["nurse_a"].post("/fhir", json={"resourceType": "Bundle", "type": "transaction",
                                                  "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}",
                                                             "resource": e, "request": {
                                                      "method": "POST", "url": "Observation"}}
                                                            for e in entries]})
    assert response.status_code == 200, response.text
    outcomes = [e["response"]["status"] for e in response.json()["entry"]]
    assert outcomes == ["201 Created", "201 Created", "201 Created", "200 OK"], response.text
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    db.refresh(patient)
    pressures = sorted((v.systolic_mmhg, v.diastolic_mmhg) for v in patient.vitals
                       if v.systolic_mmhg or v.diastolic_mmhg)
    assert (190, 115) in pressures and (150, None) in pressures
    found = screen(screening_record(patient), route="iv", on=fb.ON).findings
    assert "blood-pressure-hazard" in {f.rule for f in found}


def test_an_entry_with_neither_a_full_url_nor_an_id_is_answered_with_what_became_of_it(
        api, world) -> None:
    """A transaction entry may carry neither a fullUrl nor an id; its identity was a new random
    key each time it was asked for, so the answer said '200 OK' for a reading it had stored."""
    pid = world.patients["p_a1"]
    reading = _vital(pid, "8867-4", {"value": 72, "unit": "/min", "system": UCUM, "code": "/min"})
    response = api["nurse_a"].post("/fhir", json={"resourceType": "Bundle", "type": "transaction",
                                                  "entry": [{"resource": reading, "request": {
                                                      "method": "POST", "url": "Observation"}}]})
    assert response.status_code == 200, response.text
    [entry] = response.json()["entry"]
    assert entry["response"]["status"] == "201 Created"
    assert entry["response"]["location"].startswith("Observation/")
