"""The demo generator's synthetic patients as FHIR R4 collection bundles."""


from typing import Any

from ketaclinic.demo.generator import PatientSpec

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
HL7 = "http://terminology.hl7.org/CodeSystem"


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def spec_to_bundle(spec: PatientSpec, number: int) -> dict[str, Any]:
    """One synthetic patient and their history as a FHIR R4 collection Bundle."""
    pid = f"demo-{number}"
    subject = {"reference": f"Patient/{pid}"}
    resources: list[dict[str, Any]] = [{
        "resourceType": "Patient", "id": pid, "gender": spec.sex,
        "birthDate": spec.birth_date.isoformat(),
        "name": [{"family": spec.family_name, "given": [spec.given_name]}]}]
    for i, c in enumerate(spec.conditions):
        condition: dict[str, Any] = {
            "resourceType": "Condition", "id": f"{pid}-c{i}", "subject": subject,
            "code": _concept(c.concept.system, c.concept.code, c.concept.display),
            "clinicalStatus": {"coding": [{"system": f"{HL7}/condition-clinical",
                                           "code": c.clinical_status}]},
            "onsetDateTime": c.onset.isoformat()}
        if c.abatement:
            condition["abatementDateTime"] = c.abatement.isoformat()
        resources.append(condition)
    for i, m in enumerate(spec.medications):
        period = {"start": m.start.isoformat(), **({"end": m.end.isoformat()} if m.end else {})}
        resources.append({
            "resourceType": "MedicationStatement", "id": f"{pid}-m{i}", "subject": subject,
            "status": "active" if m.status == "active" else "stopped", "effectivePeriod": period,
            "medicationCodeableConcept": _concept(m.concept.system, m.concept.code, m.concept.display),
            "dosage": [{"text": m.frequency, "doseAndRate": [{"doseQuantity": {
                "value": m.dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}}]}]})
    for i, (concept, reaction, _) in enumerate(spec.allergies):
        resources.append({"resourceType": "AllergyIntolerance", "id": f"{pid}-a{i}",
                          "patient": subject, "note": [{"text": reaction}],
                          "code": _concept(concept.system, concept.code, concept.display)})
    for i, v in enumerate(spec.vitals):
        resources.append({
            "resourceType": "Observation", "id": f"{pid}-bp{i}", "status": "final",
            "subject": subject, "effectiveDateTime": v.measured_at.isoformat(),
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
            "component": [
                {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                 "valueQuantity": {"value": v.systolic, "unit": "mm[Hg]", "system": UCUM,
                                   "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                 "valueQuantity": {"value": v.diastolic, "unit": "mm[Hg]", "system": UCUM,
                                   "code": "mm[Hg]"}}]})
        resources.append({
            "resourceType": "Observation", "id": f"{pid}-w{i}", "status": "final",
            "subject": subject, "effectiveDateTime": v.measured_at.isoformat(),
            "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
            "valueQuantity": {"value": v.weight_kg, "unit": "kg", "system": UCUM, "code": "kg"}})
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:ketaclinic:{r['resourceType']}/{r['id']}", "resource": r}
                      for r in resources]}
