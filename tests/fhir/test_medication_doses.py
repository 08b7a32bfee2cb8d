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


def _charted_daily_mg(db: Session, pid: str, code: str) -> float | None:
    """The day's dose screening reads from the chart for the patient's medication of an RxNorm
    code."""
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    db.refresh(patient)
    [charted] = [m for m in screening_record(patient).medications
                 if code in {c.code for c in m.codings}]
    return charted.daily_dose_mg


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


GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
MG = {"value": 1, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}


def _daily(*dosages: dict[str, object]) -> float | None:
    statement = _clonazepam("Patient/p1", MG)
    statement["dosage"] = list(dosages)
    [medication] = record_from_bundle(fb.bundle(fb.patient(), statement)).medications
    return medication.daily_dose_mg


@pytest.mark.parametrize(("dosage", "daily"), [
    # a Timing code, as US Core senders give it
    ({"timing": {"code": {"coding": [{"system": GTS, "code": "BID"}]}}}, 2.0),
    ({"timing": {"code": {"coding": [{"system": GTS, "code": "Q6H"}]}}}, 4.0),
    ({"timing": {"code": {"coding": [{"system": GTS, "code": "BED"}]}}}, 1.0),
    ({"timing": {"code": {"text": "three times a day"}}}, 3.0),
    # times of day, and events of the day
    ({"timing": {"repeat": {"timeOfDay": ["08:00:00", "20:00:00"]}}}, 2.0),
    ({"timing": {"repeat": {"when": ["MORN", "HS"]}}}, 2.0),
    ({"timing": {"repeat": {"when": ["C"]}}}, None),
    # days of the week: on those days only (a frequency per week already counts them)
    ({"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                            "dayOfWeek": ["mon", "wed", "fri"]}}}, 3 / 7),
    ({"timing": {"repeat": {"dayOfWeek": ["mon", "thu"], "when": ["MORN", "HS"]}}}, 4 / 7),
    ({"timing": {"repeat": {"dayOfWeek": ["sat", "sun"]}}}, 2 / 7),
    ({"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "wk",
                            "dayOfWeek": ["mon", "wed", "fri"]}}}, 3 / 7),
    ({"timing": {"repeat": {"dayOfWeek": ["mon", "tue", "wed", "thu", "fri"]},
                 "code": {"coding": [{"system": GTS, "code": "BID"}]}}}, 10 / 7),
    ({"timing": {"repeat": {"dayOfWeek": ["mon", "fri"]}}, "text": "twice daily"}, 4 / 7),
    ({"timing": {"repeat": {"dayOfWeek": ["mon", "fri"]}}, "text": "1 mg Mon and Fri"}, 2 / 7),
    ({"timing": {"repeat": {"dayOfWeek": ["mon", "fri"]}}, "text": "take when anxious"}, None),
    # a range of frequencies, or of doses: the most the order allows
    ({"timing": {"repeat": {"frequency": 1, "frequencyMax": 3, "period": 1, "periodUnit": "d"}}},
     3.0),
    # taken as needed: the day's dose is not known from the order
    ({"asNeededBoolean": True,
      "timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}}}, None),
    ({"asNeededCodeableConcept": {"text": "anxiety"},
      "timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}}}, None),
])
def test_a_structured_timing_is_read_as_doses_a_day(
        dosage: dict[str, object], daily: float | None) -> None:
    found = _daily({**dosage, "doseAndRate": [{"doseQuantity": MG}]})
    assert found == (None if daily is None else pytest.approx(daily))


def test_a_dose_range_is_read_at_its_highest() -> None:
    assert _daily({"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                   "doseAndRate": [{"doseRange": {"low": MG, "high": {**MG, "value": 2}}}]}) == 4.0


def test_doses_taken_together_are_summed_and_a_later_step_is_not() -> None:
    morning = {"timing": {"repeat": {"when": ["MORN"]}}, "doseAndRate": [{"doseQuantity": MG}]}
    night = {"timing": {"repeat": {"when": ["HS"]}},
             "doseAndRate": [{"doseQuantity": {**MG, "value": 2}}]}
    assert _daily(morning, night) == 3.0
    assert _daily({**morning, "sequence": 1}, {**night, "sequence": 2}) == 1.0
    assert _daily(morning, {**night, "asNeededBoolean": True}) is None


def test_a_dose_in_tablets_of_a_named_strength_is_read_in_milligrams() -> None:
    """'1 tablet' three times a day of 'Clonazepam 0.5 MG Oral Tablet' (RxNorm's name of the
    clinical drug, as records name it) is 1.5 mg a day, 30 mg diazepam: far above the line,
    where it was read as a dose not recorded. A combination product's tablets stay unread."""
    statement = _clonazepam("Patient/p1", {"value": 1, "unit": "tablet",
                                           "system": "http://unitsofmeasure.org",
                                           "code": "{tablet}"})
    concept = statement["medicationCodeableConcept"]
    assert isinstance(concept, dict)
    concept["text"] = "Clonazepam 0.5 MG Oral Tablet"
    record = record_from_bundle(fb.bundle(fb.patient(), statement))
    assert [m.daily_dose_mg for m in record.medications] == [1.5]
    found = screen(record, route="iv", on=date(2026, 12, 1)).findings
    [load] = [f for f in found if f.rule == "benzodiazepine-load"]
    assert load.message.startswith("Benzodiazepines amount to 30 mg diazepam-equivalent a day")
    concept["text"] = "Chlordiazepoxide 5 MG / Amitriptyline 12.5 MG Oral Tablet"
    concept["coding"] = [{"system": RXNORM, "code": "2356", "display": "chlordiazepoxide"}]
    record = record_from_bundle(fb.bundle(fb.patient(), statement))
    assert [m.daily_dose_mg for m in record.medications] == [None]


def test_a_chart_dose_in_tablets_is_read_by_the_product_s_strength(
        api, world, db: Session) -> None:
    """A nurse charts lorazepam as 2 tablets of 'Lorazepam 1 MG Oral Tablet', twice a day: 4 mg a
    day, 40 mg diazepam."""
    pid = world.patients["p_a1"]
    created = api["nurse_a"].post(f"/api/v1/patients/{pid}/medications", json={
        "system": RXNORM, "code": "6470", "display": "Lorazepam 1 MG Oral Tablet",
        "dose_value": 2, "dose_unit": "tablets", "frequency": "bid"})
    assert created.status_code == 201, created.text
    assert _charted_daily_mg(db, pid, "6470") == 4.0


def test_a_dose_in_millilitres_of_an_oral_liquid_is_read_by_its_concentration() -> None:
    """5 mL three times a day of 'Diazepam 1 MG/ML Oral Solution' is 15 mg a day."""
    statement = _clonazepam("Patient/p1", {"value": 5, "unit": "mL",
                                           "system": "http://unitsofmeasure.org", "code": "mL"})
    statement["medicationCodeableConcept"] = {
        "coding": [{"system": RXNORM, "code": "3322", "display": "diazepam"}],
        "text": "Diazepam 1 MG/ML Oral Solution"}
    record = record_from_bundle(fb.bundle(fb.patient(), statement))
    assert [m.daily_dose_mg for m in record.medications] == [15.0]


def _lorazepam_product(**medication: object) -> dict[str, object]:
    """A Medication coded by its ingredient alone (RxNorm 6470, 'lorazepam'), as some senders
    code a product and give its strength as the ingredient's."""
    return {"resourceType": "Medication", "id": "lorazepam-tablet",
            "code": {"coding": [{"system": RXNORM, "code": "6470", "display": "lorazepam"}]},
            **medication}


def _per(numerator: dict[str, object], denominator: dict[str, object]) -> list[dict[str, object]]:
    return [{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "6470"}]},
             "strength": {"numerator": numerator, "denominator": denominator}}]


def _taken_twice_a_day(reference: str, dose: dict[str, object]) -> dict[str, object]:
    return {"resourceType": "MedicationStatement", "id": "statement", "status": "active",
            "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": reference},
            "effectivePeriod": {"start": "2026-01-01"},
            "dosage": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                        "doseAndRate": [{"doseQuantity": dose}]}]}


TABLET = {"value": 1, "unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tablet}"}
ONE_MG = {"value": 1, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}


def test_a_dose_in_tablets_is_read_by_the_strength_its_medication_resource_gives() -> None:
    """'1 tablet' twice a day of a Medication coded as lorazepam whose ingredient's strength is
    1 mg per tablet is 2 mg a day, 20 mg diazepam, far above the line; the strength was read
    only from the product's name, so the dose was 'not recorded'."""
    product = _lorazepam_product(ingredient=_per(ONE_MG, {"value": 1, "unit": "TAB"}))
    statement = _taken_twice_a_day("Medication/lorazepam-tablet", TABLET)
    record = record_from_bundle(fb.bundle(fb.patient(), product, statement))
    assert [m.daily_dose_mg for m in record.medications] == [2.0]
    [load] = [f for f in screen(record, route="iv", on=date(2026, 12, 1)).findings
              if f.rule == "benzodiazepine-load"]
    assert load.message.startswith("Benzodiazepines amount to 20 mg diazepam-equivalent a day")
    contained = {**statement, "contained": [product], "medicationReference": {
        "reference": "#lorazepam-tablet"}}
    [medication] = record_from_bundle(fb.bundle(fb.patient(), contained)).medications
    assert medication.daily_dose_mg == 2.0


@pytest.mark.parametrize(("medication", "dose", "daily"), [
    # 2 mg in 5 mL of an oral solution, 5 mL twice a day
    ({"form": {"text": "Oral solution"}, "ingredient": _per(
        {"value": 2, "unit": "mg"}, {"value": 5, "unit": "mL"})},
     {"value": 5, "unit": "mL"}, 4.0),
    # 500 micrograms a tablet
    ({"ingredient": _per({"value": 500, "unit": "ug", "code": "ug"}, {"value": 1, "code": "{tablet}"})},
     TABLET, 1.0),
    # the same strength per mL of an injection: not an oral dose read by volume
    ({"form": {"text": "Injection solution"}, "ingredient": _per(ONE_MG, {"value": 1, "unit": "mL"})},
     {"value": 2, "unit": "mL"}, None),
    # two ingredients: whose strength the tablet has is not said
    ({"ingredient": [*_per(ONE_MG, {"value": 1, "unit": "TAB"}),
                     *_per({"value": 10, "unit": "mg"}, {"value": 1, "unit": "TAB"})]},
     TABLET, None),
    # no strength, or a strength that is not a mass
    ({}, TABLET, None),
    ({"ingredient": _per({"value": 1, "unit": "%"}, {"value": 1, "unit": "TAB"})}, TABLET, None),
])
def test_a_medication_resource_s_strength_is_read_only_where_it_says_a_dose(
        medication: dict[str, object], dose: dict[str, object], daily: float | None) -> None:
    product = _lorazepam_product(**medication)
    statement = _taken_twice_a_day("Medication/lorazepam-tablet", dose)
    record = record_from_bundle(fb.bundle(fb.patient(), product, statement))
    assert [m.daily_dose_mg for m in record.medications] == [daily]


def test_an_imported_dose_in_tablets_is_read_by_its_medication_resource(
        api, world, db: Session) -> None:
    """An EHR's bundle names the product by reference ('Medication/<id>', an entry of the same
    bundle with a server's full URL); its strength makes the chart's dose 2 mg a day."""
    pid = world.patients["p_a1"]
    product = _lorazepam_product(ingredient=_per(ONE_MG, {"value": 1, "unit": "TAB"}))
    statement = {**_taken_twice_a_day("Medication/lorazepam-tablet", TABLET),
                 "subject": {"reference": f"Patient/{pid}"}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "https://ehr.example.org/fhir/Medication/lorazepam-tablet", "resource": product,
         "request": {"method": "POST", "url": "Medication"}},
        {"fullUrl": "https://ehr.example.org/fhir/MedicationStatement/statement",
         "resource": statement, "request": {"method": "POST", "url": "MedicationStatement"}}]}
    response = api["nurse_a"].post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    assert _charted_daily_mg(db, pid, "6470") == 2.0
