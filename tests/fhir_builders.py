"""Building small FHIR R4 bundles for tests: one patient and the resources screening reads."""

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
# The screening day of the pure vignettes (knowledge functions take the day as an argument).
ON = date(2026, 11, 20)
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def patient(birth: str = "1980-04-02", deceased: str | None = None) -> dict[str, Any]:
    """A Patient resource."""
    resource: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "birthDate": birth,
                                "name": [{"family": "Test", "given": ["Vignette"]}]}
    if deceased:
        resource["deceasedDateTime"] = deceased
    return resource


def condition(code: str, display: str, system: str = SNOMED, status: str | None = "active",
              verification: str | None = "confirmed", onset: str | None = "2020-01-01",
              abatement: str | None = None) -> dict[str, Any]:
    """A Condition for the patient."""
    resource: dict[str, Any] = {
        "resourceType": "Condition", "id": _id("c"), "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code, "display": display}],
                 "text": display}}
    if status:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": status}]}
    if verification:
        resource["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    if onset:
        resource["onsetDateTime"] = onset
    if abatement:
        resource["abatementDateTime"] = abatement
    return resource


def medication(code: str, display: str, status: str = "active", start: str = "2025-01-01",
               end: str | None = None, dose_mg: float | None = None,
               per_day: int | None = None) -> dict[str, Any]:
    """A MedicationStatement for the patient (dose as mg with a daily frequency if given)."""
    period: dict[str, str] = {"start": start}
    if end:
        period["end"] = end
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement", "id": _id("m"), "status": status,
        "subject": {"reference": "Patient/p1"}, "effectivePeriod": period,
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code,
                                                  "display": display}], "text": display}}
    if dose_mg is not None and per_day is not None:
        resource["dosage"] = [{
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg",
                                              "system": "http://unitsofmeasure.org",
                                              "code": "mg"}}]}]
    return resource


def allergy(code: str, display: str, status: str = "active",
            verification: str = "confirmed") -> dict[str, Any]:
    """An AllergyIntolerance for the patient."""
    return {"resourceType": "AllergyIntolerance", "id": _id("a"),
            "patient": {"reference": "Patient/p1"},
            "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": status}]},
            "verificationStatus": {"coding": [{"system": ALLERGY_VERIFICATION,
                                               "code": verification}]},
            "code": {"coding": [{"system": RXNORM, "code": code, "display": display}]}}


def _taken(days_before: int, at: datetime | None) -> str:
    return ((at or datetime.combine(ON, time(10), tzinfo=UTC)) - timedelta(days=days_before)
            ).isoformat()


def blood_pressure(systolic: float, diastolic: float, days_before: int = 2,
                   at: datetime | None = None) -> dict[str, Any]:
    """A vital-signs BP panel taken `days_before` the screening day (or the moment `at`)."""
    taken = _taken(days_before, at)

    def component(code: str, value: float) -> dict[str, Any]:
        return {"code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": value, "unit": "mm[Hg]",
                                  "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}

    return {"resourceType": "Observation", "id": _id("bp"), "status": "final",
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": taken,
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
            "component": [component("8480-6", systolic), component("8462-4", diastolic)]}


def weight(kg: float, days_before: int = 2, at: datetime | None = None) -> dict[str, Any]:
    """A body-weight Observation taken `days_before` the screening day (or the moment `at`)."""
    taken = _taken(days_before, at)
    return {"resourceType": "Observation", "id": _id("w"), "status": "final",
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": taken,
            "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
            "valueQuantity": {"value": kg, "unit": "kg", "system": "http://unitsofmeasure.org",
                              "code": "kg"}}


def text_condition(text: str, status: str | None = "active", system: str | None = None,
                   **dates: str) -> dict[str, Any]:
    """A Condition known only by its text (or coded in a system screening does not know)."""
    resource = condition("x", text, status=status, **dates)
    if system is None:
        resource["code"] = {"text": text}
    else:
        resource["code"]["coding"][0]["system"] = system
    return resource


def text_medication(text: str, **kwargs: Any) -> dict[str, Any]:
    """A MedicationStatement known only by its text."""
    resource = medication("x", text, **kwargs)
    resource["medicationCodeableConcept"] = {"text": text}
    return resource


def status_observation(loinc: str, *, code: str | None = None, system: str = SNOMED,
                       text: str | None = None, boolean: bool | None = None,
                       days_before: int = 2) -> dict[str, Any]:
    """An Observation such as pregnancy status, an hCG test or breastfeeding status."""
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": _id("o"), "status": "final",
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": _taken(days_before, None),
        "code": {"coding": [{"system": LOINC, "code": loinc}]}}
    if code is not None:
        resource["valueCodeableConcept"] = {"coding": [{"system": system, "code": code}]}
    elif text is not None:
        resource["valueString"] = text
    elif boolean is not None:
        resource["valueBoolean"] = boolean
    return resource


def bundle(*resources: dict[str, Any], kind: str = "collection") -> dict[str, Any]:
    """A Bundle of the resources."""
    return {"resourceType": "Bundle", "type": kind,
            "entry": [{"fullUrl": f"urn:uuid:{r['resourceType'].lower()}-{r.get('id', i)}",
                       "resource": r} for i, r in enumerate(resources)]}


def baseline(**overrides: Any) -> list[dict[str, Any]]:
    """A healthy 46-year-old with a normal recent BP and weight."""
    return [patient(**overrides), blood_pressure(122, 78), weight(72)]
