"""Finding the clinic's records for the FHIR face: a patient's compartment, reads by id, search."""

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import NotFound, invalid
from ketaclinic.fhir import mapping
from ketaclinic.fhir import measures as measure_map
from ketaclinic.fhir.search import DateRange, has_code, parse_date, parse_token, reference_id
from ketaclinic.kernel.actor import Actor
from ketaclinic.measures import service as measures
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient, VitalSigns
from ketaclinic.treatments.models import SessionEvent, SessionReading, TreatmentSession

# The date each type is searched by (FHIR parameter name, resource field).
DATE_PARAMS: dict[str, tuple[str, str]] = {
    "Observation": ("date", "effectiveDateTime"),
    "Encounter": ("date", "period.start"),
    "AllergyIntolerance": ("date", "recordedDate"),
    "Condition": ("recorded-date", "recordedDate"),
    "MedicationStatement": ("effective", "effectivePeriod.start"),
    "MedicationAdministration": ("effective-time", "effectivePeriod.start"),
    "QuestionnaireResponse": ("authored", "authored"),
}
CODE_FIELDS = {"Observation": "code", "Condition": "code", "AllergyIntolerance": "code",
               "MedicationStatement": "medicationCodeableConcept"}
COMPARTMENT_TYPES = tuple(DATE_PARAMS)
PATIENT_PARAMS = ("patient", "subject")


def compartment(db: Session, patient: Patient) -> dict[str, list[dict[str, Any]]]:
    """Every resource of one patient, by type."""
    pid = patient.id
    found: dict[str, list[dict[str, Any]]] = {t: [] for t in COMPARTMENT_TYPES}
    found["Condition"] = [mapping.condition(r, pid) for r in patient.conditions]
    found["AllergyIntolerance"] = [mapping.allergy(r, pid) for r in patient.allergies]
    found["MedicationStatement"] = [mapping.medication_statement(r, pid) for r in patient.medications]
    for vitals in patient.vitals:
        found["Observation"] += mapping.vital_observations(vitals, pid)
    rows = measures.measures_of(db=db, patient_pk=patient.pk, include_errors=True)
    answers = measures.answers_of(db, [m.pk for m in rows])
    for m in rows:
        found["Observation"].append(measure_map.observation(m, str(pid)))
        found["QuestionnaireResponse"].append(
            measure_map.questionnaire_response(m, answers[m.pk], str(pid)))
    sessions = db.execute(select(TreatmentSession).where(TreatmentSession.patient_pk == patient.pk)
                          .order_by(TreatmentSession.checked_in_at)).scalars()
    for s in sessions:
        found["Encounter"].append(mapping.encounter(s, pid))
        for reading in db.execute(select(SessionReading).where(SessionReading.session_pk == s.pk)
                                  .order_by(SessionReading.taken_at)).scalars():
            found["Observation"] += mapping.session_reading_observations(reading, pid, s.id)
        for event in db.execute(select(SessionEvent).where(
                SessionEvent.session_pk == s.pk, SessionEvent.kind.in_(tuple(mapping.SCALE_CODES)))
                .order_by(SessionEvent.at)).scalars():
            found["Observation"].append(mapping.scale_observation(event, pid, s.id))
        given = mapping.medication_administration(s, pid)
        if given:
            found["MedicationAdministration"].append(given)
    return found


def open_patient(db: Session, patient_id: str, actor: Actor, purpose: str) -> Patient:
    """A patient the actor may reach (NotFound otherwise), the access audited."""
    return patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose=purpose)


def _owner_of(db: Session, resource_type: str, resource_id: str) -> uuid.UUID | None:
    base = resource_id.rsplit("-", 1)[0] if resource_id.count("-") == 5 else resource_id
    try:
        key = uuid.UUID(base)
    except ValueError:
        return None
    from ketaclinic.measures.models import Measure
    tables: dict[str, list[Any]] = {
        "Condition": [Condition], "AllergyIntolerance": [Allergy],
        "MedicationStatement": [Medication],
        "Observation": [VitalSigns, Measure, SessionReading, SessionEvent],
        "QuestionnaireResponse": [Measure], "Encounter": [TreatmentSession],
        "MedicationAdministration": [TreatmentSession]}
    for model in tables.get(resource_type, []):
        query = select(Patient.id)
        if model in (SessionReading, SessionEvent):  # owned through their treatment session
            query = query.join(TreatmentSession, TreatmentSession.patient_pk == Patient.pk).join(
                model, model.session_pk == TreatmentSession.pk)
        else:
            query = query.join(model, model.patient_pk == Patient.pk)
        owner = db.execute(query.where(model.id == key)).scalar_one_or_none()
        if owner is not None:
            return owner
    return None


def read(db: Session, resource_type: str, resource_id: str, actor: Actor) -> dict[str, Any]:
    """One resource by type and id, within the actor's reach."""
    if resource_type == "Patient":
        return mapping.patient(open_patient(db, resource_id, actor, "FHIR read"))
    owner = _owner_of(db, resource_type, resource_id)
    if owner is None:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    patient = open_patient(db, str(owner), actor, f"FHIR read {resource_type}")
    for resource in compartment(db, patient)[resource_type]:
        if resource["id"] == resource_id:
            return resource
    raise NotFound(f"{resource_type}/{resource_id} is not known")


def _field(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def moment_of(value: Any) -> Any:
    """A FHIR date or date-time as an aware datetime (a date: its midnight UTC)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value) if "T" in value else datetime.fromisoformat(
        value + "T00:00:00+00:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def filter_resources(resource_type: str, resources: Iterable[dict[str, Any]],
                     params: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Apply date, code, _id and _lastUpdated to a compartment's resources of one type."""
    date_name, date_path = DATE_PARAMS.get(resource_type, ("birthdate", "birthDate"))
    dates = [parse_date(date_name, v) for v in params.get(date_name, [])]
    updated = [parse_date("_lastUpdated", v) for v in params.get("_lastUpdated", [])]
    codes = [[parse_token(t) for t in v.split(",")] for v in params.get("code", [])]
    if codes and resource_type not in CODE_FIELDS:
        raise invalid("code", f"not a search parameter of {resource_type}",
                      ", ".join(CODE_FIELDS))
    ids = {i for v in params.get("_id", []) for i in v.split(",")}
    kept = []
    for resource in resources:
        if ids and resource["id"] not in ids:
            continue
        if not _within(moment_of(_field(resource, date_path)), dates):
            continue
        if not _within(moment_of(resource["meta"]["lastUpdated"]) if "meta" in resource else None,
                       updated):
            continue
        if any(not any(has_code(resource, CODE_FIELDS[resource_type], s, c) for s, c in alternatives)
               for alternatives in codes):
            continue
        kept.append(resource)
    return kept


def _within(moment: Any, ranges: list[DateRange]) -> bool:
    if not ranges:
        return True
    return moment is not None and all(r.matches(moment) for r in ranges)


def patient_of_search(params: dict[str, list[str]], actor: Actor, resource_type: str) -> str:
    """The patient a compartment search is about: the parameter, or the patient's own record."""
    given = [reference_id(name, v) for name in PATIENT_PARAMS for v in params.get(name, [])]
    if len(set(given)) > 1:
        raise invalid("patient", "name one patient", "one Patient/<id>")
    if given:
        return given[0]
    if actor.is_patient and actor.patient_pk is not None:
        return ""
    raise invalid("patient", f"{resource_type} searches here are per patient",
                  "patient=Patient/<id> (or subject=)")
