"""The clinic's records as FHIR R4 resources (JSON dicts), coded from codes.md."""

from collections.abc import Sequence
from typing import Any, NamedTuple

from ketaclinic.courses.models import STOPPED, Course
from ketaclinic.fhir.measures import SURVEY
from ketaclinic.knowledge.codes import concept_by_key
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient, StatusObservation
from ketaclinic.treatments.models import TreatmentSession

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MRN_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR",
                        "display": "Medical record number"}]}
MRN_SYSTEM = "https://ketaclinic.org/mrn/"
SITE_SYSTEM = "https://ketaclinic.org/site"  # a site's code, as its Organization's identifier
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
VITAL_SIGNS = {"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs",
                           "display": "Vital Signs"}]}
LABORATORY = {"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory",
                          "display": "Laboratory"}]}
SOCIAL_HISTORY = {"coding": [{"system": OBSERVATION_CATEGORY, "code": "social-history",
                              "display": "Social History"}]}
# The status observations that are laboratory tests (hCG); the others are statuses.
LABORATORY_CODES = frozenset({"2106-3", "2118-8"})


def status_category(code: str) -> dict[str, Any]:
    """The Observation category of a pregnancy or breastfeeding observation of this code."""
    return LABORATORY if code in LABORATORY_CODES else SOCIAL_HISTORY
# (field, id suffix, LOINC code, display, UCUM unit); the BP panel is built apart.
VITAL_SERIES = (
    ("heart_rate_bpm", "hr", "8867-4", "Heart rate", "/min"),
    ("respiratory_rate_per_min", "rr", "9279-1", "Respiratory rate", "/min"),
    ("spo2_pct", "spo2", "2708-6", "Oxygen saturation in Arterial blood", "%"),
    ("temperature_c", "temp", "8310-5", "Body temperature", "Cel"),
    ("weight_kg", "weight", "29463-7", "Body weight", "kg"),
    ("height_cm", "height", "8302-2", "Body height", "cm"),
)
# The blood-pressure panel's components (LOINC) and the field each fills.
PRESSURE_FIELDS = {"8480-6": "systolic_mmhg", "8462-4": "diastolic_mmhg"}
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
# Condition.category: code -> (system, display); the first two are FHIR's, the third US Core's.
CONDITION_CATEGORIES = {
    "problem-list-item": ("http://terminology.hl7.org/CodeSystem/condition-category",
                          "Problem List Item"),
    "encounter-diagnosis": ("http://terminology.hl7.org/CodeSystem/condition-category",
                            "Encounter Diagnosis"),
    "health-concern": ("http://hl7.org/fhir/us/core/CodeSystem/condition-category",
                       "Health Concern"),
}
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
ROUTES = {"iv": ("47625008", "Intravenous route"), "esketamine": ("46713006", "Nasal route"),
          "im": ("78421000", "Intramuscular route"), "oral": ("26643006", "Oral route")}


def _meta(row: Any) -> dict[str, str]:
    return {"lastUpdated": row.updated_at.isoformat()}


def _subject(patient_id: object) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id}"}


def _concept(row: Any) -> dict[str, Any]:
    """A row's code, the other codings it was sent with, and its words (words alone for an
    entry imported with no code)."""
    coding = [{"system": row.system, "code": row.code, "display": row.display}] if (
        row.system and row.code) else []
    coding += [{k: v for k, v in c.items() if v} for c in getattr(row, "other_codings", None) or []]
    return {"coding": coding, "text": row.display} if coding else {"text": row.display}


class MrnAt(NamedTuple):
    """A medical record number and the site that gave it."""

    mrn: str
    site_code: str
    site_id: object
    site_name: str


def patient(row: Patient) -> dict[str, Any]:
    """A Patient with its MRNs, name, birth date, sex and contact details."""
    return patient_of(row, [MrnAt(m.mrn, m.site.code, m.site.id, m.site.name) for m in row.mrns])


def patient_of(row: Any, mrns: Sequence[MrnAt]) -> dict[str, Any]:
    """A Patient from its columns (a record, or a row of the columns it is read as) and its
    MRNs, oldest first."""
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": str(row.id), "meta": _meta(row), "active": row.active,
        "identifier": [{"type": MRN_TYPE, "system": MRN_SYSTEM + m.site_code, "value": m.mrn}
                       for m in mrns],
        "name": [{"use": "official", "family": row.family_name, "given": [row.given_name]}],
        "gender": row.sex, "birthDate": row.birth_date.isoformat(),
    }
    if row.deceased_on is not None:
        resource["deceasedDateTime"] = row.deceased_on.isoformat()
    elif row.deceased:
        resource["deceasedBoolean"] = True
    if mrns:  # the site the patient was first registered at
        resource["managingOrganization"] = {"reference": f"Organization/{mrns[0].site_id}",
                                            "display": mrns[0].site_name}
    telecom = [{"system": "phone", "value": row.phone}] if row.phone else []
    telecom += [{"system": "email", "value": row.email}] if row.email else []
    if telecom:
        resource["telecom"] = telecom
    if row.address:
        resource["address"] = [{"text": row.address}]
    if row.emergency_contact_name:
        contact: dict[str, Any] = {"name": {"text": row.emergency_contact_name}}
        if row.emergency_contact_relationship:
            contact["relationship"] = [{"text": row.emergency_contact_relationship}]
        if row.emergency_contact_phone:
            contact["telecom"] = [{"system": "phone", "value": row.emergency_contact_phone}]
        resource["contact"] = [contact]
    return resource


def condition(row: Condition, patient_id: object) -> dict[str, Any]:
    """A Condition with clinical and verification status."""
    resource: dict[str, Any] = {
        "resourceType": "Condition", "id": str(row.id), "meta": _meta(row),
        "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION,
                                           "code": row.verification_status}]},
        "category": [_condition_category(row.category)],
        "code": _concept(row), "subject": _subject(patient_id),
        "recordedDate": row.created_at.isoformat(),
    }
    if row.verification_status != "entered-in-error":
        resource["clinicalStatus"] = {"coding": [{"system": CONDITION_CLINICAL,
                                                  "code": row.clinical_status}]}
    if row.onset_date:
        resource["onsetDateTime"] = row.onset_date.isoformat()
    if row.abatement_date:
        resource["abatementDateTime"] = row.abatement_date.isoformat()
    if row.note:
        resource["note"] = [{"text": row.note}]
    return resource


def _condition_category(code: str) -> dict[str, Any]:
    system, display = CONDITION_CATEGORIES[code]
    return {"coding": [{"system": system, "code": code, "display": display}]}


def allergy(row: Allergy, patient_id: object) -> dict[str, Any]:
    """An AllergyIntolerance with its reaction and criticality."""
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance", "id": str(row.id), "meta": _meta(row),
        "verificationStatus": {"coding": [{"system": ALLERGY_VERIFICATION,
                                           "code": row.verification_status}]},
        "criticality": row.criticality, "code": _concept(row), "patient": _subject(patient_id),
        "recordedDate": row.created_at.isoformat(),
    }
    if row.verification_status != "entered-in-error":
        resource["clinicalStatus"] = {"coding": [{"system": ALLERGY_CLINICAL,
                                                  "code": row.clinical_status}]}
    if row.kind:
        resource["type"] = row.kind
    if row.reaction:
        resource["reaction"] = [{"manifestation": [{"text": row.reaction}]}]
    return resource


def medication_statement(row: Medication, patient_id: object) -> dict[str, Any]:
    """A MedicationStatement with dose and frequency as text and structured quantity."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement", "id": str(row.id), "meta": _meta(row),
        "status": row.status, "medicationCodeableConcept": _concept(row),
        "subject": _subject(patient_id), "dateAsserted": row.created_at.isoformat(),
    }
    if row.start_date or row.end_date:
        period = {"start": row.start_date.isoformat()} if row.start_date else {}
        if row.end_date:
            period["end"] = row.end_date.isoformat()
        resource["effectivePeriod"] = period
    if row.dose_value is not None or row.frequency:
        dosage: dict[str, Any] = {"text": " ".join(
            p for p in (f"{row.dose_value:g} {row.dose_unit}" if row.dose_value is not None else "",
                        row.frequency) if p)}
        if row.dose_value is not None:
            dosage["doseAndRate"] = [{"doseQuantity": {"value": row.dose_value,
                                                       "unit": row.dose_unit or "mg"}}]
        resource["dosage"] = [dosage]
    return resource


def _route(route: str) -> dict[str, Any]:
    snomed, words = ROUTES.get(route, ("", route))
    return ({"coding": [{"system": "http://snomed.info/sct", "code": snomed, "display": words}]}
            if snomed else {"text": words})


def _drug(route: str) -> dict[str, Any]:
    """The drug a course or session of this route gives, coded (RxNorm, codes.toml)."""
    drug = concept_by_key("medication", "esketamine" if route == "esketamine" else "ketamine")
    return {"coding": [{"system": drug.system, "code": drug.code, "display": drug.display}],
            "text": drug.display}


def medication_request(row: Course, patient_id: object) -> dict[str, Any]:
    """A course as the prescriber's order: the drug by route, the signed dose and its basis, the
    indication, and the maintenance plan; active until the course is stopped."""
    dosage: dict[str, Any] = {"route": _route(row.route)}
    dose = row.dose
    if dose is not None:
        dosage["text"] = f"{dose.dose_mg:g} mg per session ({dose.basis})"
        rate: dict[str, Any] = {"doseQuantity": {"value": dose.dose_mg, "unit": "mg",
                                                 "system": UCUM, "code": "mg"}}
        if dose.rate_mg_per_h is not None:
            rate["rateQuantity"] = {"value": dose.rate_mg_per_h, "unit": "mg/h", "system": UCUM,
                                    "code": "mg/h"}
        dosage["doseAndRate"] = [rate]
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": str(row.id), "meta": _meta(row),
        "status": "stopped" if row.state == STOPPED else "active", "intent": "order",
        "medicationCodeableConcept": _drug(row.route), "subject": _subject(patient_id),
        "authoredOn": row.signed_at.isoformat(), "requester": {"display": row.prescriber},
        "reasonCode": [{"text": row.indication}], "dosageInstruction": [dosage],
    }
    if row.maintenance:
        resource["note"] = [{"text": row.maintenance}]
    return resource


def _vital(base_id: str, suffix: str, code: str, display: str, shared: dict[str, Any]
           ) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": f"{base_id}-{suffix}", "meta": shared["meta"],
        "status": shared["status"], "category": shared["category"],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": shared["subject"], "effectiveDateTime": shared["effectiveDateTime"],
    }


def vital_observations(row: Any, patient_id: object) -> list[dict[str, Any]]:
    """One set of vital signs (chart or chair, a record or a row of its columns) as vital-signs
    profile Observations (BP as a panel)."""
    base = str(row.id)
    when = row.measured_at if hasattr(row, "measured_at") else row.taken_at  # chart, else chair
    # what the row's Observations share, made once a row (a UUID and a time format slowly)
    shared = {"meta": _meta(row),
              "status": "entered-in-error" if row.status == "entered-in-error" else "final",
              "category": [VITAL_SIGNS], "subject": _subject(str(patient_id)),
              "effectiveDateTime": when.isoformat()}
    found = []
    if row.systolic_mmhg is not None or row.diastolic_mmhg is not None:
        panel = _vital(base, "bp", "85354-9", "Blood pressure panel with all children optional",
                       shared)
        panel["component"] = [
            {"code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
             "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}
            for code, display, value in (("8480-6", "Systolic blood pressure", row.systolic_mmhg),
                                         ("8462-4", "Diastolic blood pressure", row.diastolic_mmhg))
            if value is not None]
        found.append(panel)
    for field, suffix, code, display, unit in VITAL_SERIES:
        value = getattr(row, field, None)
        if value is None:
            continue
        observation = _vital(base, suffix, code, display, shared)
        if suffix == "spo2":
            observation["code"]["coding"].append({"system": LOINC, "code": "59408-5",
                                                  "display": "Oxygen saturation by Pulse oximetry"})
        observation["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
        found.append(observation)
    return found


# What a pregnancy or breastfeeding Observation is built from, as columns.
STATUS_COLUMNS = (StatusObservation.pk, StatusObservation.id, StatusObservation.updated_at,
                  StatusObservation.status, StatusObservation.system, StatusObservation.code,
                  StatusObservation.display, StatusObservation.taken_at,
                  StatusObservation.value_system, StatusObservation.value_code,
                  StatusObservation.value_display, StatusObservation.value_text,
                  StatusObservation.value_boolean)


def status_observation(row: StatusObservation | Any, patient_id: object) -> dict[str, Any]:
    """A pregnancy status, hCG test or breastfeeding status Observation (from the record or a
    row of its `STATUS_COLUMNS`), its answer as sent or charted (a coding, else words, else
    yes/no)."""
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": str(row.id), "meta": _meta(row),
        "status": "entered-in-error" if row.status == "entered-in-error" else "final",
        "category": [status_category(row.code)],
        "code": _concept(row), "subject": _subject(patient_id),
        "effectiveDateTime": row.taken_at.isoformat()}
    if row.value_code:
        coding = {"system": row.value_system, "code": row.value_code}
        resource["valueCodeableConcept"] = {
            "coding": [{**coding, "display": row.value_display} if row.value_display else coding],
            **({"text": row.value_text} if row.value_text else {})}
    elif row.value_text:
        resource["valueString"] = row.value_text
    elif row.value_boolean is not None:
        resource["valueBoolean"] = row.value_boolean
    return resource


def encounter(row: TreatmentSession, patient_id: object) -> dict[str, Any]:
    """A treatment session as an ambulatory Encounter."""
    period = {"start": row.checked_in_at.isoformat()}
    if row.discharged_at:
        period["end"] = row.discharged_at.isoformat()
    return {
        "resourceType": "Encounter", "id": str(row.id), "meta": _meta(row),
        "status": "finished" if row.status == "discharged" else "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
                  "display": "ambulatory"},
        "type": [{"text": f"ketamine treatment session ({row.route})"}],
        "subject": _subject(patient_id), "period": period,
    }


def medication_administration(row: TreatmentSession, patient_id: object) -> dict[str, Any] | None:
    """The dose given at a session (None before dosing), with route, dose and lot."""
    given = row.dose_given
    if row.dose_start is None or given is None:
        return None
    drug = _drug(row.route)
    period = {"start": row.dose_start.isoformat()}
    if row.dose_end:
        period["end"] = row.dose_end.isoformat()
    resource: dict[str, Any] = {
        "resourceType": "MedicationAdministration", "id": str(row.id), "meta": _meta(row),
        "status": "completed" if row.dose_end or row.status == "discharged" else "in-progress",
        "medicationCodeableConcept": drug, "subject": _subject(patient_id),
        "context": {"reference": f"Encounter/{row.id}"}, "effectivePeriod": period,
        "dosage": {"route": _route(row.route),
                   "dose": {"value": given.dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}},
    }
    if given.lot_number:
        # R4 keeps the lot on the Medication: a contained one carries it.
        resource["contained"] = [{"resourceType": "Medication", "id": "given", "code": drug,
                                  "batch": {"lotNumber": given.lot_number}}]
        del resource["medicationCodeableConcept"]
        resource["medicationReference"] = {"reference": "#given", "display": drug["text"]}
    if row.ordered_by:
        resource["performer"] = [{"actor": {"display": row.ordered_by},
                                  "function": {"text": "ordering prescriber"}}]
    return resource


def session_reading_observations(row: Any, patient_id: object, encounter_id: object) -> list[
        dict[str, Any]]:
    """Vital signs taken at the chair (typed, posted or from the monitor) as Observations."""
    found = vital_observations(row, patient_id)
    encounter = f"Encounter/{encounter_id}"
    for observation in found:
        observation["encounter"] = {"reference": encounter}
        if getattr(row, "device", ""):
            observation["device"] = {"display": row.device}
    return found


SCALE_CODES = {"moass": ("moass", "MOAA/S score"), "cadss": ("cadss-total", "CADSS total score")}
SCALE_SYSTEM = "https://ketaclinic.org/CodeSystem/instrument"


def scale_observation(event: Any, patient_id: object, encounter_id: object) -> dict[str, Any]:
    """A MOAA/S or CADSS score recorded in a session, with the project's code system."""
    code, display = SCALE_CODES[event.kind]
    return {
        "resourceType": "Observation", "id": str(event.id), "meta": _meta(event), "status": "final",
        "category": [SURVEY],
        "code": {"coding": [{"system": SCALE_SYSTEM, "code": code, "display": display}],
                 "text": display},
        "subject": _subject(patient_id), "encounter": {"reference": f"Encounter/{encounter_id}"},
        "effectiveDateTime": event.at.isoformat(), "valueInteger": int(event.value or 0),
    }
