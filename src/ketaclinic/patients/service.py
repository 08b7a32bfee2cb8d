"""Patient registry use cases: register, edit, search, open, and record clinical history."""

import itertools
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Integer, Select, bindparam, func, or_, select
from sqlalchemy.orm import Session, joinedload

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.clinics import rules as clinic_rules
from ketaclinic.clinics.models import Site
from ketaclinic.db import Base, one_of
from ketaclinic.errors import Conflict, FieldProblem, InvalidInput, NotFound, OutOfReach, invalid
from ketaclinic.kept_rows import kept_rows
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.reach import can_reach_patient
from ketaclinic.knowledge import dosing, status_observations
from ketaclinic.knowledge.codes import accepted_systems, code_systems, resolve_system
from ketaclinic.knowledge.vital_limits import plausible_ranges
from ketaclinic.patients import history, schemas
from ketaclinic.patients.models import (
    ENTERED_IN_ERROR,
    Allergy,
    Condition,
    Medication,
    Patient,
    PatientMrn,
    StatusObservation,
    VitalSigns,
)

EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# A field a change empties (None in a change means 'not given').
_CLEARED = object()
# A reading stamped a little ahead is clock skew between devices; further ahead is a typo.
FUTURE_TOLERANCE = timedelta(minutes=5)
# The latest time zone is UTC+14: a birth today there is tomorrow in UTC.
LATEST_OFFSET = timedelta(hours=14)


@dataclass(frozen=True)
class EntryKind:
    """One kind of clinical entry on the chart and how it is marked entered-in-error."""

    name: str
    model: type[Base]
    status_field: str
    code_kind: str | None


ENTRY_KINDS: dict[str, EntryKind] = {
    "conditions": EntryKind("conditions", Condition, "verification_status", "condition"),
    "medications": EntryKind("medications", Medication, "status", "medication"),
    "allergies": EntryKind("allergies", Allergy, "verification_status", "allergy"),
    "vitals": EntryKind("vitals", VitalSigns, "status", None),
    "status-observations": EntryKind("status-observations", StatusObservation, "status", None),
}


def _patient_query() -> Any:
    # MRNs and their sites joined in (a page of patients is one query, not three); the caller
    # takes `.unique()` rows, one per patient.
    return select(Patient).options(joinedload(Patient.mrns).joinedload(PatientMrn.site))


# One query, the MRNs and their sites joined in: this runs on every read of a chart. Built once:
# building the options and the statement's cache key cost as much as running it.
_BY_ID = (select(Patient).options(joinedload(Patient.mrns).joinedload(PatientMrn.site))
          .where(Patient.id == bindparam("key")))


# A patient's public id, given when a statement that looks the patient up by it runs.
PATIENT_KEY = bindparam("key", type_=Patient.id.type)


def by_id_with_reach(*columns: Any) -> Select[Any]:
    """SQL: the patient whose public id is `PATIENT_KEY`, with what reach and the audit need
    (pk, id, site_pk; one row per MRN) and these columns beside them, so that opening the
    patient and a first question about them are one query (`open_patient_with`)."""
    return (select(Patient.pk, Patient.id, PatientMrn.site_pk, *columns).select_from(Patient)
            .outerjoin(PatientMrn, PatientMrn.patient_pk == Patient.pk)
            .where(Patient.id == PATIENT_KEY))


# A patient's keys and sites, by key or by public id: all that reach and the audit need.
_ID_AND_SITES_BY_PK = (select(Patient.pk, Patient.id, PatientMrn.site_pk).select_from(Patient)
                       .outerjoin(PatientMrn, PatientMrn.patient_pk == Patient.pk)
                       .where(Patient.pk == bindparam("key")))
_ID_AND_SITES_BY_ID = by_id_with_reach()


@dataclass(frozen=True)
class PatientKeys:
    """A patient as far as a search of their records needs them: the key and the public id."""

    pk: int
    id: uuid.UUID


def _key(patient_id: uuid.UUID | str) -> uuid.UUID | None:
    """The patient id as a UUID (None: not one, so no patient has it)."""
    try:
        return patient_id if isinstance(patient_id, uuid.UUID) else uuid.UUID(str(patient_id))
    except ValueError:
        return None


def _load(db: Session, patient_id: uuid.UUID | str) -> Patient | None:
    key = _key(patient_id)
    return None if key is None else db.execute(_BY_ID, {"key": key}).unique().scalar_one_or_none()


def _rows_in_reach(rows: Sequence[Any], actor: Actor, asked_for: str) -> None:
    """OutOfReach unless there are rows (one per MRN: .pk and .site_pk) of a patient the actor
    may reach."""
    if not rows or not can_reach_patient(actor, patient_pk=rows[0].pk, patient_site_pks={
            row.site_pk for row in rows if row.site_pk is not None}):
        raise OutOfReach(asked_for)


def open_patient(
    *, db: Session, patient_id: uuid.UUID | str, actor: Actor, purpose: str
) -> Patient:
    """A patient the actor may reach, with the read audited; NotFound otherwise."""
    patient = _reachable(db, patient_id, actor)
    _record_read(db, patient.id, actor, purpose)
    return patient


def open_patient_keys(*, db: Session, patient_id: uuid.UUID | str, actor: Actor,
                      purpose: str) -> PatientKeys:
    """A patient's keys, if the actor may reach the patient, with the read audited (as
    `open_patient`, without loading the record); NotFound otherwise."""
    row = open_patient_with(db=db, patient_id=patient_id, actor=actor, purpose=purpose,
                            statement=_ID_AND_SITES_BY_ID)
    return PatientKeys(row.pk, row.id)


def open_patient_with(*, db: Session, patient_id: uuid.UUID | str, actor: Actor, purpose: str,
                      statement: Select[Any]) -> Any:
    """`open_patient_keys` by a `by_id_with_reach` statement kept for reuse: its first row
    (the patient's pk and id, and the statement's own columns), if the actor may reach the
    patient, with the read audited; NotFound otherwise."""
    key = _key(patient_id)
    rows = [] if key is None else kept_rows(db, statement, {"key": key})
    open_through(db=db, rows=rows, actor=actor, purpose=purpose, asked_for=str(patient_id))
    return rows[0]


@dataclass(frozen=True)
class PatientToOpen:
    """A patient a search opens itself, so that opening them and its first question can be one
    query (`open_patient_with`); `opened` opens them as `open_patient_keys` does."""

    patient_id: uuid.UUID | str
    actor: Actor
    purpose: str


def opened(db: Session, patient: Patient | PatientKeys | PatientToOpen) -> Patient | PatientKeys:
    """The patient as given, or opened (`open_patient_keys`) if still to be."""
    if isinstance(patient, PatientToOpen):
        return open_patient_keys(db=db, patient_id=patient.patient_id, actor=patient.actor,
                                 purpose=patient.purpose)
    return patient


def with_reach(statement: Select[Any], patient_pk: Any, *, pk_as: str = "pk",
               id_as: str = "id") -> Select[Any]:
    """The statement with, joined in, what reach and the audit need of the patient its rows
    point at through `patient_pk` (columns pk, id, site_pk, the first two named as asked; one
    row per MRN), so that a record and its patient's reach come in one query (see
    `open_through`)."""
    return (statement.add_columns(Patient.pk.label(pk_as), Patient.id.label(id_as),
                                  PatientMrn.site_pk)
            .join(Patient, Patient.pk == patient_pk)
            .outerjoin(PatientMrn, PatientMrn.patient_pk == Patient.pk))


def open_through(*, db: Session, rows: Sequence[Any], actor: Actor, purpose: str,
                 asked_for: str) -> uuid.UUID:
    """The patient of rows of their key, public id and MRN sites (one per MRN, as a `with_reach`
    statement gives them), if the actor may reach them, with the read audited: their public id;
    OutOfReach naming `asked_for` otherwise."""
    _rows_in_reach(rows, actor, asked_for)
    _record_read(db, rows[0].id, actor, purpose)
    return cast(uuid.UUID, rows[0].id)


def open_patient_by_pk(*, db: Session, patient_pk: int, actor: Actor, purpose: str) -> uuid.UUID:
    """A patient known by primary key (from a record that points at them) that the actor may
    reach, with the read audited: the patient's public id; NotFound otherwise."""
    rows = db.execute(_ID_AND_SITES_BY_PK, {"key": patient_pk}).all()
    return open_through(db=db, rows=rows, actor=actor, purpose=purpose,
                        asked_for=str(rows[0].id if rows else patient_pk))


# What the API shows of a patient (chart/router.py's PatientOut), in the order it shows it.
DEMOGRAPHIC_FIELDS = ("family_name", "given_name", "birth_date", "sex", "phone", "email",
                      "address", "emergency_contact_name", "emergency_contact_phone",
                      "emergency_contact_relationship", "deceased", "deceased_on")


@dataclass(frozen=True)
class Demographics:
    """A patient's demographics and medical record numbers, as the API shows them."""

    id: uuid.UUID
    fields: dict[str, Any]
    mrns: list[tuple[str, str]]  # (site code, MRN), oldest first

    @classmethod
    def of(cls, patient: Patient) -> "Demographics":
        """The demographics of a loaded patient (its MRNs and their sites loaded too)."""
        return cls(patient.id, {name: getattr(patient, name) for name in DEMOGRAPHIC_FIELDS},
                   [(m.site.code, m.mrn) for m in patient.mrns])


# Patients as columns, a row per MRN (one with its MRN's columns empty if it has none), the MRNs'
# sites joined in: the audited read of a patient is the commonest request, and loading the
# patient, its MRNs and their sites as records cost most of it. What shows more of the patient
# adds its columns (the FHIR Patient read and search).
DEMOGRAPHIC_COLUMNS = (
    select(Patient.pk, Patient.id, *(getattr(Patient, f) for f in DEMOGRAPHIC_FIELDS),
           PatientMrn.site_pk, PatientMrn.mrn, Site.code)
    .select_from(Patient)
    .outerjoin(PatientMrn, PatientMrn.patient_pk == Patient.pk)
    .outerjoin(Site, Site.pk == PatientMrn.site_pk))


def one_patient(columns: Select[Any]) -> Select[Any]:
    """A statement built on `DEMOGRAPHIC_COLUMNS` for the patient with the public id bound as
    `key` (as `open_rows` binds it), the oldest MRN first."""
    return columns.where(Patient.id == bindparam("key")).order_by(PatientMrn.pk)


DEMOGRAPHICS = one_patient(DEMOGRAPHIC_COLUMNS)


def open_demographics(*, db: Session, patient_id: uuid.UUID | str, actor: Actor,
                      purpose: str) -> Demographics:
    """A patient's demographics, if the actor may reach the patient, with the read audited
    (as `open_patient`); NotFound otherwise."""
    rows = open_rows(db=db, statement=DEMOGRAPHICS, patient_id=patient_id, actor=actor,
                     purpose=purpose)
    first = rows[0]
    return Demographics(first.id, {name: getattr(first, name) for name in DEMOGRAPHIC_FIELDS},
                        [(row.code, row.mrn) for row in rows if row.mrn is not None])


def open_rows(*, db: Session, statement: Any, patient_id: uuid.UUID | str, actor: Actor,
              purpose: str) -> Sequence[Any]:
    """The rows of a statement about the patient with this public id (bound as `key`), each
    with the patient's `pk`, `id` and one MRN's `site_pk`, if the actor may reach the patient,
    with the read audited; NotFound otherwise."""
    key = _key(patient_id)
    rows = [] if key is None else kept_rows(db, statement, {"key": key})
    open_through(db=db, rows=rows, actor=actor, purpose=purpose, asked_for=str(patient_id))
    return rows


def _record_read(db: Session, patient_id: uuid.UUID, actor: Actor, purpose: str) -> None:
    audit.record(db=db, actor=actor, action="read", record_type="Patient", record_id=patient_id,
                 patient_id=patient_id, detail=purpose)


def ensure_in_reach(*, db: Session, patient_id: str, actor: Actor) -> None:
    """OutOfReach unless the actor may reach the patient; checked before a form is read, so that
    a bad form never answers for a record out of reach (nothing is read, so nothing audited)."""
    _reachable(db, patient_id, actor)


def _reachable(db: Session, patient_id: uuid.UUID | str, actor: Actor) -> Patient:
    return _within_reach(_load(db, patient_id), actor, str(patient_id))


def _within_reach(patient: Patient | None, actor: Actor, asked_for: str) -> Patient:
    if patient is None or not can_reach_patient(
        actor, patient_pk=patient.pk, patient_site_pks=patient.site_pks
    ):
        raise OutOfReach(asked_for)
    return patient


def find_by_id_or_mrn(*, db: Session, actor: Actor, text: str) -> int | None:
    """The key of the patient within the actor's reach whose record id or MRN (at one of the
    actor's sites) this is, or None."""
    patient = _load(db, text)
    if patient is None:
        pk = db.execute(select(PatientMrn.patient_pk).where(
            PatientMrn.mrn == text, PatientMrn.site_pk.in_(actor.site_pks))).scalars().first()
        patient = _load(db, id_of(db, pk)) if pk is not None else None
    if patient is None or not can_reach_patient(actor, patient_pk=patient.pk,
                                                patient_site_pks=patient.site_pks):
        return None
    return patient.pk


def id_of(db: Session, patient_pk: int) -> uuid.UUID:
    """The public id of a patient known by primary key (for links and audit entries)."""
    return db.execute(select(Patient.id).where(Patient.pk == patient_pk)).scalar_one()


def own_record(db: Session, actor: Actor) -> Patient:
    """A patient user's own record (404 for anyone else)."""
    patient = None if actor.patient_pk is None else db.execute(
        select(Patient).where(Patient.pk == actor.patient_pk)).scalar_one_or_none()
    if patient is None:
        raise NotFound("no record")
    return patient


def own_id(db: Session, actor: Actor) -> uuid.UUID:
    """The public id of a patient user's own record (404 for anyone else)."""
    if actor.patient_pk is None:
        raise NotFound("no such patient")
    return id_of(db, actor.patient_pk)


def time_zone_of(patient: Patient) -> str:
    """The time zone of the patient's (first) site; UTC if they have none."""
    return patient.mrns[0].site.time_zone if patient.mrns else "UTC"


def _first_site_zone(db: Session, *condition: Any) -> str | None:
    return db.execute(select(Site.time_zone).join(PatientMrn, PatientMrn.site_pk == Site.pk)
                      .where(*condition).order_by(PatientMrn.pk).limit(1)).scalar_one_or_none()


def time_zone_of_pk(db: Session, patient_pk: int) -> str:
    """The time zone of a patient's (first) site, read by key; UTC if they have none."""
    return _first_site_zone(db, PatientMrn.patient_pk == patient_pk) or "UTC"


def time_zone_of_id(db: Session, patient_id: str) -> str | None:
    """The time zone of a patient's (first) site, by public id; None for no such patient (the
    caller's own reach check answers for it). Reveals nothing: the zone is only read in."""
    key = _key(patient_id)
    if key is None:
        return None
    return _first_site_zone(db, PatientMrn.patient_pk == select(Patient.pk).where(
        Patient.id == key).scalar_subquery())


def local_today(patient: Patient) -> date:
    """Today in the patient's site's time zone."""
    return clock.today(time_zone_of(patient))


def _birth_date_problems(birth_date: date) -> list[FieldProblem]:
    latest = (clock.now() + LATEST_OFFSET).date()
    accepted = f"{EARLIEST_BIRTH_DATE.isoformat()} to today"
    if birth_date > latest:
        return [FieldProblem("birth_date", "is in the future", accepted)]
    if birth_date < EARLIEST_BIRTH_DATE:
        return [FieldProblem("birth_date", "is implausibly early", accepted)]
    return []


def _death(patient: Patient, changes: dict[str, Any]) -> dict[str, Any]:
    """What recording or taking back a death changes: a day of death records the death (it is
    checked: not after today, not before birth); `deceased` false takes it back, day and all."""
    died_on, deceased = changes.get("deceased_on"), changes.get("deceased")
    if deceased is False:
        if died_on is not None:
            raise invalid("deceased_on", "is given for a patient said to be living",
                          "no day of death with deceased false")
        return {"deceased_on": _CLEARED}
    if died_on is None:
        return {}
    born = changes.get("birth_date") or patient.birth_date
    if died_on > (clock.now() + LATEST_OFFSET).date():
        raise invalid("deceased_on", "is in the future", f"{born.isoformat()} to today")
    if died_on < born:
        raise invalid("deceased_on", f"is before the birth date {born.isoformat()}",
                      f"{born.isoformat()} to today")
    return {"deceased": True}


def _check_birth_date(birth_date: date) -> None:
    problems = _birth_date_problems(birth_date)
    if problems:
        raise InvalidInput(problems)


def _search_name(family: str, given: str) -> str:
    return f"{family} {given}".casefold()


def _next_mrn(db: Session, site: Site) -> str:
    count = db.execute(
        select(func.count()).select_from(PatientMrn).where(PatientMrn.site_pk == site.pk)
    ).scalar_one()
    candidate = count + 1
    while True:
        mrn = f"{site.code}{candidate:06d}"
        taken = db.execute(
            select(PatientMrn.pk).where(PatientMrn.site_pk == site.pk, PatientMrn.mrn == mrn)
        ).first()
        if not taken:
            return mrn
        candidate += 1


def register(*, db: Session, data: schemas.PatientIn, actor: Actor) -> Patient:
    """Register a new patient at one of the actor's sites, assigning an MRN if none is given."""
    problems = _birth_date_problems(data.birth_date)  # every problem at once, not the first
    site = db.execute(select(Site).where(Site.code == data.site)).scalar_one_or_none()
    if site is None or site.pk not in actor.site_pks:
        codes = db.execute(select(Site.code).where(Site.pk.in_(actor.site_pks))).scalars()
        problems.append(FieldProblem("site", f"{data.site!r} is not one of your sites",
                                     ", ".join(codes)))
    if problems or site is None:
        raise InvalidInput(problems)
    mrn = data.mrn or _next_mrn(db, site)
    if db.execute(select(PatientMrn.pk).where(PatientMrn.site_pk == site.pk,
                                              PatientMrn.mrn == mrn)).first():
        raise Conflict(f"MRN {mrn} is already used at {site.name}")
    values = data.model_dump(exclude={"site", "mrn"})
    values["email"] = str(values["email"])
    patient = Patient(**values, search_name=_search_name(data.family_name, data.given_name),
                      created_by=actor.username)
    patient.mrns.append(PatientMrn(site_pk=site.pk, mrn=mrn, created_by=actor.username))
    db.add(patient)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="Patient", record_id=patient.id,
                 patient_id=patient.id, detail=f"registered at {site.code} as {mrn}")
    return patient


def update_demographics(
    *, db: Session, patient_id: str, data: schemas.PatientUpdate, actor: Actor
) -> Patient:
    """Change demographics; the audit row lists which fields changed."""
    patient = open_patient(db=db, patient_id=patient_id, actor=actor, purpose="edit")
    changes = data.model_dump(exclude_unset=True)
    if "birth_date" in changes and changes["birth_date"] is not None:
        _check_birth_date(changes["birth_date"])
    changes |= _death(patient, changes)
    changed: list[str] = []
    for field_name, value in changes.items():
        if value is None:
            continue
        value = None if value is _CLEARED else value
        value = str(value) if field_name == "email" else value
        if getattr(patient, field_name) != value:
            setattr(patient, field_name, value)
            changed.append(field_name)
    patient.search_name = _search_name(patient.family_name, patient.given_name)
    db.flush()
    audit.record(db=db, actor=actor, action="update", record_type="Patient", record_id=patient.id,
                 patient_id=patient.id, detail="changed: " + (", ".join(changed) or "nothing"))
    return patient


def search(
    *,
    db: Session,
    actor: Actor,
    text: str = "",
    birth_date: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Patient]:
    """Patients at the actor's sites matching a name, MRN or birth date (all words must match)."""
    query = (
        _patient_query()
        .where(Patient.pk.in_(select(PatientMrn.patient_pk)
                              .where(PatientMrn.site_pk.in_(actor.site_pks))))
        .order_by(Patient.family_name, Patient.given_name, Patient.pk)
    )
    for word in text.replace("\x00", "").casefold().split():
        mrn_match = Patient.pk.in_(
            select(PatientMrn.patient_pk).where(func.lower(PatientMrn.mrn) == word)
        )
        query = query.where(or_(Patient.search_name.contains(word, autoescape=True), mrn_match))
    if birth_date is not None:
        query = query.where(Patient.birth_date == birth_date)
    found = db.execute(query.limit(limit).offset(offset)).unique().scalars().all()
    audit.record(db=db, actor=actor, action="search", record_type="Patient",
                 detail=f"text={text[:80]!r} birth_date={birth_date} results={len(found)}")
    return found


# Statements of Patient searches kept for reuse, by the shape of their conditions: building a
# statement and its cache key cost more than running it on a page of patients.
KEPT_SEARCHES = 256
_kept_searches: dict[Hashable, tuple[Any, Any]] = {}
PAGE_LIMIT = bindparam("page_limit", type_=Integer)
PAGE_OFFSET = bindparam("page_offset", type_=Integer)


def find(*, db: Session, actor: Actor, conditions: Sequence[Any], values: dict[str, Any],
         limit: int, offset: int, described: str, columns: Select[Any],
         shape: Hashable) -> tuple[list[list[Any]], int]:
    """A page of the patients the actor may reach that meet every condition (SQL on Patient,
    comparing with the bound `values`), in name order, each as its rows of `columns` (a
    statement built on `DEMOGRAPHIC_COLUMNS`, the oldest MRN first), and how many meet them all;
    the search is audited as `described`. Searches whose conditions have one `shape` (their SQL
    the same but for the values) share their statements. Staff reach the patients registered at
    their sites; a patient reaches their own record only, whatever else the search asks."""
    confined = actor.is_patient or actor.patient_context_pk is not None
    dialect = db.get_bind().dialect.name
    key = (shape, confined, columns, dialect)
    kept = _kept_searches.get(key)
    if kept is None:
        kept = _search_statements(conditions, confined, columns, dialect)
        if len(_kept_searches) >= KEPT_SEARCHES:
            _kept_searches.clear()  # many shapes at once: start again rather than grow
        _kept_searches[key] = kept
    page, count = kept
    reach = ({"reach_pk": actor.confined_to} if confined
             else {"reach_sites": sorted(actor.site_pks)})
    params = {**values, **reach, "page_limit": limit, "page_offset": offset}
    rows = kept_rows(db, page, params)
    found = [list(of_one) for _, of_one in itertools.groupby(rows, key=lambda row: row.pk)]
    if limit > 0 and (0 < len(found) < limit or (not found and not offset)):
        total = offset + len(found)  # the last page: nothing follows it to count
    else:
        total = kept_rows(db, count, params)[0][0]
    audit.record(db=db, actor=actor, action="search", record_type="Patient",
                 detail=f"{described[:200]} results={total}")
    return found, int(total)


def _search_statements(conditions: Sequence[Any], confined: bool, columns: Select[Any],
                       dialect: str) -> tuple[Any, Any]:
    """The page's rows and the count of a Patient search, the caller's reach bound as
    `reach_pk` (one patient) or `reach_sites`, the page as `page_limit` and `page_offset`."""
    if confined:
        reach = Patient.pk == bindparam("reach_pk", type_=Patient.pk.type)
    else:
        reach = Patient.pk.in_(select(PatientMrn.patient_pk).where(
            one_of(PatientMrn.site_pk, "reach_sites", dialect)))
    where = [reach, *conditions]
    by_name = (Patient.family_name, Patient.given_name, Patient.pk)
    page = (select(Patient.pk).where(*where).order_by(*by_name).limit(PAGE_LIMIT)
            .offset(PAGE_OFFSET))
    return (columns.where(Patient.pk.in_(page)).order_by(*by_name, PatientMrn.pk),
            select(func.count()).select_from(Patient).where(*where))


def chart(*, db: Session, patient_id: str, actor: Actor) -> Patient:
    """A patient with conditions, medications, allergies and pregnancy or breastfeeding
    observations loaded, the read audited (vital signs, which grow by the visit, are read a
    page at a time: `history`)."""
    patient = open_patient(db=db, patient_id=patient_id, actor=actor, purpose="chart")
    for relation in ("conditions", "medications", "allergies", "status_observations"):
        getattr(patient, relation)
    return patient


def _check_coded(kind: str, values: dict[str, Any]) -> None:
    """A code in a system the kind accepts, or words alone (no system, no code: kept as the
    importer keeps an EHR's entry in words)."""
    values["system"], values["code"] = values["system"].strip(), values["code"].strip()
    if not values["system"] and not values["code"]:
        return
    accepted = ", ".join(f"{s.short} ({s.uri})" for s in accepted_systems(kind))
    system = resolve_system(kind, values["system"])
    if system is None:
        raise invalid("system", f"unknown code system {values['system']!r}",
                      f"{accepted}; or no system and no code, to record the entry in words")
    if not values["code"]:
        raise invalid("code", f"is empty for the code system {system.short}",
                      "the code in that system; or no system and no code, to record the "
                      "entry in words")
    values["system"] = system.uri


def _check_period(values: dict[str, Any], start: str, end: str) -> None:
    latest = (clock.now() + LATEST_OFFSET).date()
    problems = [
        FieldProblem(name, "is in the future", "today or earlier")
        for name in (start, end)
        if values.get(name) and values[name] > latest
    ] + [
        FieldProblem(name, "is implausibly early", f"{EARLIEST_BIRTH_DATE.isoformat()} or later")
        for name in (start, end)
        if values.get(name) and values[name] < EARLIEST_BIRTH_DATE
    ]
    if values.get(start) and values.get(end) and values[end] < values[start]:
        problems.append(FieldProblem(end, f"is before {start}", f"on or after {start}"))
    if problems:
        raise InvalidInput(problems)


def _check_weight_change(db: Session, patient: Patient, weight_kg: float | None,
                         measured_at: datetime) -> None:
    """Refuse a weight too far from the last one charted before it (a weight typed in pounds
    into the kilograms field) unless the change is confirmed."""
    if weight_kg is None:
        return
    last = db.execute(select(VitalSigns.weight_kg, VitalSigns.measured_at).where(
        VitalSigns.patient_pk == patient.pk, VitalSigns.weight_kg.is_not(None),
        VitalSigns.status != ENTERED_IN_ERROR, VitalSigns.measured_at <= measured_at)
        .order_by(VitalSigns.measured_at.desc()).limit(1)).first()
    if last is None:
        return
    charted_on = clock.date_in(last.measured_at, time_zone_of(patient))
    problem = dosing.weight_change_problem(last.weight_kg, weight_kg,
                                           f"the last weight charted ({charted_on})",
                                           clinic_rules.current_ruleset(db=db))
    if problem:
        raise InvalidInput([FieldProblem(
            "weight_kg", f"{problem}; if it is right, confirm the change",
            "a weight in kilograms, or weight_change_confirmed to keep a weight that changed")])


def _status_observation(values: dict[str, Any]) -> dict[str, Any]:
    """A charted pregnancy or breastfeeding observation's columns: its code's name, and the
    answer as the words screening reads (a yes is 'positive', 'pregnant', 'breastfeeding')."""
    kind = status_observations.kind_of(values["code"])
    if kind is None:
        raise invalid("code", f"{values['code']!r} is not a pregnancy or breastfeeding "
                      "observation the chart keeps", ", ".join(
                          f"{code} ({name})" for code, name in status_observations.charted_codes().items()))
    taken = values["taken_at"] or clock.now()
    problems = moment_problems("taken_at", taken, clock.now())
    if problems:
        raise InvalidInput(problems)
    yes = values["answer"] == "yes"
    return {"system": code_systems()["loinc"].uri, "code": values["code"],
            "display": kind.names[values["code"]], "taken_at": taken, "value_boolean": yes,
            "value_text": (kind.positive_text if yes else kind.negative_text)[0]}


def check_vitals(values: dict[str, Any]) -> None:
    """Reject physiologically impossible or empty vital signs, naming each field and its range."""
    problems = vital_problems(values, clock.now())
    if problems:
        raise InvalidInput(problems)


def vital_problems(values: dict[str, Any], now: datetime) -> list[FieldProblem]:
    """What is impossible about one set of vital signs (empty: nothing), checked against now."""
    ranges = plausible_ranges()
    given = {k: v for k, v in values.items() if v is not None and k in ranges}
    if not given:
        return [FieldProblem("vitals", "give at least one measurement", ", ".join(ranges))]
    problems = [
        FieldProblem(name, f"{value:g} is outside the possible range", ranges[name].describe())
        for name, value in given.items()
        if not ranges[name].contains(value)
    ]
    problems += pressure_problems(given)
    measured_at: datetime | None = values.get("measured_at")
    if measured_at is not None:
        problems += moment_problems("measured_at", measured_at, now)
    return problems


def moment_problems(field: str, moment: datetime, now: datetime) -> list[FieldProblem]:
    """What is impossible about the time something was observed: no zone, in the future, or
    before anyone charted could have been born."""
    if moment.tzinfo is None:
        return [FieldProblem(field, "has no time zone", "ISO 8601 with offset")]
    if moment > now + FUTURE_TOLERANCE:
        return [FieldProblem(field, "is in the future", "now or earlier")]
    if moment.date() < EARLIEST_BIRTH_DATE:
        return [FieldProblem(field, "is implausibly early",
                             f"{EARLIEST_BIRTH_DATE.isoformat()} to now")]
    return []


def pressure_problems(values: dict[str, Any]) -> list[FieldProblem]:
    """A diastolic pressure at or above the systolic cannot be (the two were swapped or mistyped)."""
    systolic, diastolic = values.get("systolic_mmhg"), values.get("diastolic_mmhg")
    if systolic is not None and diastolic is not None and diastolic >= systolic:
        return [FieldProblem("diastolic_mmhg", f"{diastolic:g} is not below the systolic "
                             f"{systolic:g}", "a diastolic pressure below the systolic")]
    return []


def add_entry(
    *, db: Session, patient_id: str, kind: str, data: BaseModel, actor: Actor
) -> Any:
    """Record a condition, medication, allergy, set of vital signs or pregnancy or
    breastfeeding observation on a patient's chart."""
    entry_kind = ENTRY_KINDS[kind]
    patient = open_patient(db=db, patient_id=patient_id, actor=actor, purpose=f"add {kind}")
    values = data.model_dump()
    if entry_kind.code_kind:
        _check_coded(entry_kind.code_kind, values)
    if kind == "conditions":
        _check_period(values, "onset_date", "abatement_date")
    elif kind == "medications":
        _check_period(values, "start_date", "end_date")
    elif kind == "vitals":
        check_vitals(values)
        values["measured_at"] = values["measured_at"] or clock.now()
        if not values.pop("weight_change_confirmed", False):
            _check_weight_change(db, patient, values["weight_kg"], values["measured_at"])
    elif kind == "status-observations":
        values = _status_observation(values)
    entry: Any = entry_kind.model(**values, patient_pk=patient.pk, created_by=actor.username)
    db.add(entry)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type=entry_kind.model.__name__,
                 record_id=entry.id, patient_id=patient.id)
    return entry


def page_entries(*, db: Session, patient_id: str, kind: str, actor: Actor, limit: int,
                 before: str | None = None) -> history.EntryPage:
    """A page of entries of one kind on the chart, newest first, entered-in-error ones included
    and marked."""
    patient = open_patient(db=db, patient_id=patient_id, actor=actor, purpose=f"list {kind}")
    return history.page_of(db, patient, ENTRY_KINDS[kind].model, limit=limit, before=before)


def mark_entered_in_error(
    *, db: Session, patient_id: str, kind: str, entry_id: str, reason: str, actor: Actor
) -> Any:
    """Mark an entry entered-in-error with the reason; the row itself stays."""
    entry_kind = ENTRY_KINDS[kind]
    patient = open_patient(db=db, patient_id=patient_id, actor=actor, purpose=f"correct {kind}")
    model: Any = entry_kind.model
    try:
        key = uuid.UUID(entry_id)
    except ValueError:
        raise NotFound(f"no such entry in {kind}") from None
    entry = db.execute(
        select(model).where(model.id == key, model.patient_pk == patient.pk)
    ).scalar_one_or_none()
    if entry is None:
        raise NotFound(f"no such entry in {kind}")
    if getattr(entry, entry_kind.status_field) == ENTERED_IN_ERROR:
        raise Conflict("this entry is already marked entered-in-error")
    setattr(entry, entry_kind.status_field, ENTERED_IN_ERROR)
    entry.error_reason = reason
    entry.error_marked_by = actor.username
    entry.error_marked_at = clock.now()
    db.flush()
    audit.record(db=db, actor=actor, action="entered-in-error", record_type=model.__name__,
                 record_id=entry.id, patient_id=patient.id, detail=reason)
    return entry


def is_entered_in_error(entry: Any, kind: str) -> bool:
    """Whether a chart entry has been marked entered-in-error."""
    return bool(getattr(entry, ENTRY_KINDS[kind].status_field) == ENTERED_IN_ERROR)


def vitals_since(
    *, db: Session, actor: Actor, site_pk: int, since: datetime
) -> Sequence[tuple[VitalSigns, Patient]]:
    """Vital signs recorded since a moment for patients of one site, newest first, reads audited."""
    rows = db.execute(
        select(VitalSigns, Patient)
        .join(Patient, VitalSigns.patient_pk == Patient.pk)
        .where(VitalSigns.measured_at >= since, VitalSigns.status != ENTERED_IN_ERROR,
               Patient.pk.in_(select(PatientMrn.patient_pk).where(PatientMrn.site_pk == site_pk)))
        .order_by(VitalSigns.measured_at.desc())
        .limit(100)
    ).all()
    for patient_id in dict.fromkeys(p.id for _, p in rows):
        audit.record(db=db, actor=actor, action="read", record_type="VitalSigns",
                     patient_id=patient_id, detail="dashboard")
    return [(v, p) for v, p in rows]


def registered_since(*, db: Session, actor: Actor, site_pk: int, since: datetime) -> Sequence[Patient]:
    """Patients registered at a site since a moment, newest first (demographics only)."""
    found = db.execute(
        _patient_query()
        .where(Patient.created_at >= since,
               Patient.pk.in_(select(PatientMrn.patient_pk).where(PatientMrn.site_pk == site_pk)))
        .order_by(Patient.created_at.desc())
        .limit(50)
    ).unique().scalars().all()
    for patient in found:
        audit.record(db=db, actor=actor, action="read", record_type="Patient",
                     record_id=patient.id, patient_id=patient.id, detail="dashboard")
    return found
