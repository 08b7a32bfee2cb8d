"""A medication's daily dose is read whatever mass unit it comes in, and an imported one's dose,
kept on the chart as milligrams a day, is still a dose when the chart is screened: the chart
showed "6 mg/day" of clonazepam while screening said its dose was not recorded."""

import uuid
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.fhir.record import record_from_bundle
from ketaclinic.knowledge.screening import screen
from ketaclinic.patients.models import Patient
from ketaclinic.patients.record import screening_record
from tests import fhir_builders as fb

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _clonazepam(subject: str, quantity: dict[str, object]) -> dict[str, object]:
    return {"resourceType": "MedicationStatement", "status": "active",
            "subject": {"reference": subject},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "2598",
                                                      "display": "clonazepam"}]},
            "effectivePeriod": {"start": "2026-01-01"},
            "dosage": [{"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                        "doseAndRate": [{"doseQuantity": quantity}]}]}


@pytest.mark.parametrize(("quantity", "daily"), [
    ({"value": 2, "unit": "mg"}, 6.0),
    ({"value": 2, "unit": "milligram", "system": "http://unitsofmeasure.org", "code": "mg"}, 6.0),
    ({"value": 500, "unit": "mcg"}, 1.5),
    ({"value": 0.5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}, 1.5),
    ({"value": 6, "unit": "mg/day"}, 6.0),
    ({"value": 2, "unit": "tablet"}, None),
])
def test_a_dose_in_any_mass_unit_is_read_in_milligrams_a_day(
        quantity: dict[str, object], daily: float | None) -> None:
    record = record_from_bundle(fb.bundle(fb.patient(), _clonazepam("Patient/p1", quantity)))
    assert [m.daily_dose_mg for m in record.medications] == [daily]


def test_an_imported_dose_is_a_dose_when_the_chart_is_screened(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    created = api["nurse_a"].post("/fhir/MedicationStatement", json=_clonazepam(
        f"Patient/{pid}", {"value": 2, "unit": "mg"}))
    assert created.status_code == 201, created.text
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    db.refresh(patient)
    [imported] = [m for m in screening_record(patient).medications if "2598" in
                  {c.code for c in m.codings}]
    assert imported.daily_dose_mg == 6.0
    found = {f.rule for f in screen(screening_record(patient), route="iv",
                                       on=date(2026, 12, 1)).findings}
    assert "benzodiazepine-load" in found and "benzodiazepine-dose-unknown" not in found
