"""Finding the clinic's records for the FHIR face: a patient's compartment, reads by id, search."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Site
from ketaclinic.courses.models import Course
from ketaclinic.errors import NotFound, invalid
from ketaclinic.fhir import mapping, observations
from ketaclinic.fhir import measures as measure_map
from ketaclinic.fhir.filters import DATE_PARAMS, Filters
from ketaclinic.fhir.search import reference_id
from ketaclinic.kept_rows import kept_rows
from ketaclinic.kernel.actor import Actor
from ketaclinic.measures import service as measures
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import (
    Allergy,
    Condition,
    Medication,
    Patient,
    StatusObservation,
    VitalSigns,
)
from ketaclinic.treatments.models import SessionEvent, SessionReading, TreatmentSession

COMPARTMENT_TYPES = tuple(DATE_PARAMS)
PATIENT_PARAMS = ("patient", "subject")


def compartment(db: Session, patient: Patient) -> dict[str, list[dict[str, Any]]]:
    """Every resource of one patient, by type (measures and sessions read once for all)."""
    rows = _Rows(db, patient)
    return {resource_type: of_type(db, patient, resource_type, rows)
            for resource_type in COMPARTMENT_TYPES}


class _Rows:
    """A patient's measures and treatment sessions, read when first needed and then kept, for
    the types built from them."""

    def __init__(self, db: Session, patient: Patient) -> None:
        self._db, self._patient = db, patient

    @cached_property
    def measures(self) -> Sequence[Any]:
        """Every measure, entered-in-error ones included, oldest first."""
        return measures.measures_of(db=self._db, patient_pk=self._patient.pk, include_errors=True)

    @cached_property
    def sessions(self) -> list[TreatmentSession]:
        """Every treatment session, in check-in order."""
        return list(self._db.execute(
            select(TreatmentSession).where(TreatmentSession.patient_pk == self._patient.pk)
            .order_by(TreatmentSession.checked_in_at, TreatmentSession.pk)).scalars())


def of_type(db: Session, patient: Patient, resource_type: str,
            rows: _Rows | None = None) -> list[dict[str, Any]]:
    """A patient's resources of one type, built from that type's rows alone (a search for
    Encounters reads no vital signs), each kind of row in one query."""
    pid = patient.id
    rows = rows or _Rows(db, patient)
    if resource_type == "Condition":
        return [mapping.condition(r, pid) for r in patient.conditions]
    if resource_type == "AllergyIntolerance":
        return [mapping.allergy(r, pid) for r in patient.allergies]
    if resource_type == "MedicationStatement":
        return [mapping.medication_statement(r, pid) for r in patient.medications]
    if resource_type == "QuestionnaireResponse":
        answers = measures.answers_of(db, [m.pk for m in rows.measures])
        return [measure_map.questionnaire_response(m, answers[m.pk], str(pid))
                for m in rows.measures]
    if resource_type == "Observation":
        return _observations(db, patient, rows)
    if resource_type == "Encounter":
        return [mapping.encounter(s, pid) for s in rows.sessions]
    if resource_type == "MedicationAdministration":
        return [given for s in rows.sessions
                if (given := mapping.medication_administration(s, pid))]
    if resource_type == "MedicationRequest":
        return [mapping.medication_request(c, pid) for c in db.execute(
            select(Course).where(Course.patient_pk == patient.pk)
            .order_by(Course.signed_at, Course.pk)).scalars()]
    return []


def _observations(db: Session, patient: Patient, rows: _Rows) -> list[dict[str, Any]]:
    pid = patient.id
    found: list[dict[str, Any]] = []
    for vitals in db.execute(select(VitalSigns).where(VitalSigns.patient_pk == patient.pk)
                             .order_by(VitalSigns.measured_at, VitalSigns.pk)).scalars():
        found += mapping.vital_observations(vitals, pid)
    found += [measure_map.observation(m, str(pid)) for m in rows.measures]
    found += [mapping.status_observation(o, pid) for o in db.execute(
        select(StatusObservation).where(StatusObservation.patient_pk == patient.pk)
        .order_by(StatusObservation.taken_at, StatusObservation.pk)).scalars()]
    sessions = rows.sessions
    session_pks = [s.pk for s in sessions]
    readings: dict[int | None, list[SessionReading]] = {pk: [] for pk in session_pks}
    if session_pks:
        # the readings and scores of every session in two queries, not two per session
        for reading in db.execute(select(SessionReading)
                                  .where(SessionReading.session_pk.in_(session_pks))
                                  .order_by(SessionReading.taken_at, SessionReading.pk)).scalars():
            readings[reading.session_pk].append(reading)
    events = observations.scale_events_of(db, session_pks)
    for s in sessions:
        for reading in readings[s.pk]:
            found += mapping.session_reading_observations(reading, pid, s.id)
        found += [mapping.scale_observation(event, pid, s.id) for event in events[s.pk]]
    return found


def open_patient(db: Session, patient_id: str, actor: Actor, purpose: str) -> Patient:
    """A patient the actor may reach (NotFound otherwise), the access audited."""
    return patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose=purpose)


def _sources(resource_type: str) -> list[Any]:
    from ketaclinic.measures.models import Measure
    sources: dict[str, list[Any]] = {"Condition": [Condition], "AllergyIntolerance": [Allergy],
            "MedicationStatement": [Medication],
            "Observation": [VitalSigns, Measure, SessionReading, SessionEvent,
                            StatusObservation],
            "QuestionnaireResponse": [Measure], "Encounter": [TreatmentSession],
            "MedicationAdministration": [TreatmentSession], "MedicationRequest": [Course]}
    return sources.get(resource_type, [])


@dataclass(frozen=True)
class _Found:
    """The row a resource id names (a record, or for `AS_COLUMNS` its columns), its kind, its
    patient's id, its treatment session's id (for what a session owns), and its patient's reach
    (rows of `pk`, `id` and `site_pk`, one per MRN, as `patients.open_through` reads them)."""

    row: Any
    model: Any
    owner: uuid.UUID
    session_id: uuid.UUID | None
    reach: Sequence[Any]


SESSION_OWNED = (SessionReading, SessionEvent)
# Rows whose Observations are built from their columns (`observations.built_columns`): a read
# takes them as columns, not records (loading a record cost as much as the rest of the read).
AS_COLUMNS = (VitalSigns, SessionReading)
# The patient's columns in such a read, named apart from the row's own `pk` and `id`.
OWNER_PK, OWNER_ID = "owner_pk", "owner_id"


@dataclass(frozen=True)
class _Reach:
    """One row of a patient's reach, as `patients.open_through` reads it."""

    pk: int
    id: uuid.UUID
    site_pk: int | None


def _row_with_owner(db: Session, resource_type: str, resource_id: str) -> _Found | None:
    """The row a resource id names, with its owners and its patient's reach (`_Found`), in one
    query; None if no row is that resource."""
    base = resource_id.rsplit("-", 1)[0] if resource_id.count("-") == 5 else resource_id
    try:
        key = uuid.UUID(base)
    except ValueError:
        return None
    for model in _sources(resource_type):
        owned_by_session = model in SESSION_OWNED
        if model in AS_COLUMNS:
            rows = kept_rows(db, _row_by_id(model), {"key": key})
            if rows:
                first = rows[0]
                return _Found(first, model, getattr(first, OWNER_ID),
                              first.session_id if owned_by_session else None,
                              [_Reach(getattr(r, OWNER_PK), getattr(r, OWNER_ID), r.site_pk)
                               for r in rows])
            continue
        rows = db.execute(_row_by_id(model), {"key": key}).all()
        if rows:
            first = rows[0]
            return _Found(first[0], model, first.id,
                          first.session_id if owned_by_session else None, rows)
    return None


@cache
def _row_by_id(model: Any) -> Any:
    """SQL: a row of the model by public id, with its session's id (for what a session owns)
    and what reach and the audit need of its patient (one row per MRN). Built once per model:
    a read runs up to four, and building each cost as much as running it."""
    as_columns = model in AS_COLUMNS
    query = select(*observations.built_columns(model)) if as_columns else select(model)
    if model in SESSION_OWNED:  # owned through their treatment session
        query = (query.add_columns(TreatmentSession.id.label("session_id"))
                 .join(TreatmentSession, model.session_pk == TreatmentSession.pk))
        owner = TreatmentSession.patient_pk
    else:
        owner = model.patient_pk
    names = {"pk_as": OWNER_PK, "id_as": OWNER_ID} if as_columns else {}
    return patients.with_reach(query, owner, **names).where(
        model.id == bindparam("key", type_=model.id.type))


def _resources_of_row(db: Session, resource_type: str, row: Any, pid: uuid.UUID,
                      session_id: uuid.UUID | None, model: Any = None
                      ) -> list[dict[str, Any]]:
    """The resources of `resource_type` that one row is (a record, or the columns of a `model`
    in `AS_COLUMNS`), as the compartment shows them."""
    if model is VitalSigns:
        return mapping.vital_observations(row, pid)
    if model is SessionReading:
        return mapping.session_reading_observations(row, pid, session_id)
    if isinstance(row, Condition):
        return [mapping.condition(row, pid)]
    if isinstance(row, Allergy):
        return [mapping.allergy(row, pid)]
    if isinstance(row, Medication):
        return [mapping.medication_statement(row, pid)]
    if isinstance(row, VitalSigns):
        return mapping.vital_observations(row, pid)
    if isinstance(row, StatusObservation):
        return [mapping.status_observation(row, pid)]
    if isinstance(row, SessionReading):
        return mapping.session_reading_observations(row, pid, session_id)
    if isinstance(row, SessionEvent):
        return ([mapping.scale_observation(row, pid, session_id)]
                if row.kind in mapping.SCALE_CODES else [])
    if isinstance(row, Course):
        return [mapping.medication_request(row, pid)]
    if isinstance(row, TreatmentSession):
        given = mapping.medication_administration(row, pid)
        if resource_type == "Encounter":
            return [mapping.encounter(row, pid)]
        return [given] if given else []
    if resource_type == "QuestionnaireResponse":
        answers = measures.answers_of(db, [row.pk])
        return [measure_map.questionnaire_response(row, answers[row.pk], str(pid))]
    return [measure_map.observation(row, str(pid))]


def read(db: Session, resource_type: str, resource_id: str, actor: Actor) -> dict[str, Any]:
    """One resource by type and id, within the actor's reach: built from its own row, whatever
    the length of the patient's record."""
    if resource_type == "Patient":
        return _patient(db, resource_id, actor)
    found = _row_with_owner(db, resource_type, resource_id)
    if found is None:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    # the patient's reach came with the row: the record itself is not loaded
    patients.open_through(db=db, rows=found.reach, actor=actor,
                          purpose=f"FHIR read {resource_type}", asked_for=str(found.owner))
    return _built(db, resource_type, resource_id, found)


def as_written(db: Session, resource_type: str, resource_id: str, record: Any,
               patient_id: uuid.UUID) -> dict[str, Any]:
    """A resource the caller has just written for a patient (a record of the patient's own, not
    a Patient nor what a treatment session owns), built from the record written, as a read would
    answer it: its reach was checked and its creation audited by the write, and every column
    holds what the database gives back, so it is not read again."""
    for resource in _resources_of_row(db, resource_type, record, patient_id, None):
        if resource["id"] == resource_id:
            return resource
    raise NotFound(f"{resource_type}/{resource_id} is not known")


def _built(db: Session, resource_type: str, resource_id: str, found: _Found
           ) -> dict[str, Any]:
    for resource in _resources_of_row(db, resource_type, found.row, found.owner,
                                      found.session_id, found.model):
        if resource["id"] == resource_id:
            return resource
    raise NotFound(f"{resource_type}/{resource_id} is not known")


def _patient(db: Session, patient_id: str, actor: Actor) -> dict[str, Any]:
    """A Patient by id, within the actor's reach, the read audited: read as its columns with
    its MRNs and their sites joined in, one query (loading them as records cost as much as
    the rest of the read)."""
    rows = patients.open_rows(db=db, statement=_PATIENT, patient_id=patient_id, actor=actor,
                              purpose="FHIR read")
    return patient_of_rows(rows)


def patient_of_rows(rows: Sequence[Any]) -> dict[str, Any]:
    """A Patient from its rows of `PATIENT_COLUMNS` (one per MRN, the oldest first)."""
    return mapping.patient_of(rows[0], [mapping.MrnAt(r.mrn, r.code, r.site_id, r.site_name)
                                        for r in rows if r.mrn is not None])


# What a Patient resource shows, as columns: the demographics and these.
PATIENT_COLUMNS = patients.DEMOGRAPHIC_COLUMNS.add_columns(
    Patient.updated_at, Patient.active, Site.id.label("site_id"), Site.name.label("site_name"))
_PATIENT = patients.one_patient(PATIENT_COLUMNS)


def filter_resources(resource_type: str, resources: Iterable[dict[str, Any]],
                     params: dict[str, list[str]], zone: str = "UTC") -> list[dict[str, Any]]:
    """Apply date, code, _id and _lastUpdated to a compartment's resources of one type (dates
    without a zone read in `zone`, the searcher's clinic's)."""
    filters = Filters.parse(resource_type, params, zone)
    return [resource for resource in resources if filters.keeps_resource(resource)]


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
