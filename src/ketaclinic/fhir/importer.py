"""Importing FHIR R4 Bundles into the clinic's records: whole bundles or nothing, no duplicates.

Kept: Patient (registered at the site its managingOrganization names, else the chosen one),
Condition, MedicationRequest and MedicationStatement (as medications), AllergyIntolerance,
vital-sign Observations (BP, heart rate, respiratory rate, SpO2, temperature, weight, height),
and the Observations that say pregnant or breastfeeding (pregnancy status, hCG tests,
breastfeeding status) when their answer can be read.
Every other resource is counted as skipped with its reason. A resource is remembered by its
source key (type and id, or its urn:uuid), so importing the same bundle again changes nothing.
"""

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.errors import FieldProblem, Forbidden, InvalidInput, invalid
from ketaclinic.fhir import organizations
from ketaclinic.fhir.bundle import BundleError, schema_problem, validate_r4
from ketaclinic.fhir.mapping import PRESSURE_FIELDS, VITAL_SERIES, vital_observations
from ketaclinic.fhir.models import ImportedResource
from ketaclinic.fhir.record import (
    LOINC,
    NOT_A_READING,
    allergy_fact,
    condition_category_of,
    condition_fact,
    effective,
    medication_fact,
    parse_datetime,
    pressure_components,
    status_observation_facts,
)
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.reach import can_reach_patient
from ketaclinic.knowledge.codes import resolve_system
from ketaclinic.knowledge.record import Coding
from ketaclinic.knowledge.status_observations import kind_of, watched_codes
from ketaclinic.knowledge.vital_units import in_stored_unit
from ketaclinic.patients import schemas
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import (
    Allergy,
    Condition,
    Medication,
    Patient,
    StatusObservation,
    VitalSigns,
)
from ketaclinic.patients.service import PatientKeys, pressure_problems, vital_problems

# The patient an entry's record is written for: a Patient entry of the bundle (the record), or
# a patient already in the clinic that the entry refers to (their keys, all a record needs).
Whose = Patient | PatientKeys

KEPT_ELSEWHERE = "not kept by the clinic"
CONDITION_STATUSES = {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
MEDICATION_STATUSES = {"active", "completed", "intended", "stopped", "on-hold", "unknown",
                       "not-taken", "entered-in-error"}
VITAL_CODES = {code: field for field, _, code, _, _ in VITAL_SERIES} | {"59408-5": "spo2_pct"}


@dataclass
class ImportResult:
    """What one bundle did, per resource type."""

    created: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    patients: list[str] = field(default_factory=list)
    # per source key: (HTTP status line, location of the record or '', note)
    outcomes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # per source key of a record written for a patient: the record and the patient's public id
    written: dict[str, tuple[Any, uuid.UUID]] = field(default_factory=dict)

    def total(self) -> int:
        """Every entry accounted for."""
        return sum(self.created.values()) + sum(self.unchanged.values()) + sum(self.skipped.values())


def _locate_broken(bundle: dict[str, Any]) -> FieldProblem:
    from fhir.resources.R4B import get_fhir_model_class

    for index, entry in enumerate(bundle.get("entry") or []):
        resource = (entry or {}).get("resource") or {}
        try:
            get_fhir_model_class(str(resource.get("resourceType")))
        except (KeyError, ValueError):
            return FieldProblem(f"entry[{index}]", f"unknown resourceType "
                                f"{resource.get('resourceType')!r}", "a FHIR R4 resource type")
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except (ValidationError, ValueError, TypeError) as exc:
            problem = schema_problem(exc, resource["resourceType"])
            return FieldProblem(f"entry[{index}].{problem.path}", f"{resource['resourceType']} is "
                                f"not valid FHIR R4: {problem.why}"[:300], problem.accepted)
    return FieldProblem("entry", "the bundle is not valid FHIR R4", "a valid FHIR R4 Bundle")


def check_bundle(bundle: dict[str, Any]) -> None:
    """Refuse a bundle that is not valid R4, naming the first broken entry."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise invalid("resourceType", "not a Bundle", "Bundle")
    if bundle.get("type") not in ("transaction", "batch", "collection"):
        raise invalid("type", f"{bundle.get('type')!r} cannot be imported",
                      "transaction, batch or collection")
    try:
        validate_r4(bundle)
    except BundleError:
        raise InvalidInput([_locate_broken(bundle)]) from None


def source_key(entry: dict[str, Any]) -> str:
    """A resource's identity across imports: its type and id, or its urn:uuid full URL."""
    resource = entry["resource"]
    full_url = str(entry.get("fullUrl") or "")
    ident = full_url.rsplit(":", 1)[-1].rsplit("/", 1)[-1] if full_url else resource.get("id", "")
    return f"{resource['resourceType']}/{ident or uuid.uuid4()}"


def coded_or_as_sent(kind: str, codings: tuple[Coding, ...], text: str
                     ) -> tuple[str, str, str] | None:
    """The entry's code in a system the kind accepts (`first_accepted`); else, when it has words
    to read (its text, or a coding's display), its first coding as sent (an EHR's local code,
    or none) with those words: screening reads the words of an entry with no known code, as it
    reads the record an EHR sends, so the chart keeps them. None: nothing to read."""
    coded = first_accepted(kind, codings)
    if coded is not None:
        return coded
    words = (text or next((c.display for c in codings if c.display), "")).strip()
    if not words:
        return None
    first = next(iter(codings), Coding("", ""))
    return (first.system or "")[:100], (first.code or "")[:40], words[:300]


# The most of an entry's other codings kept beside its code.
OTHER_CODINGS_KEPT = 10


def other_codings(codings: tuple[Coding, ...], kept: tuple[str, str, str]
                  ) -> list[dict[str, str]] | None:
    """An entry's codings besides the one kept as its code, as sent (None when there are none)."""
    others = [{"system": c.system[:100], "code": c.code[:40], "display": (c.display or "")[:300]}
              for c in codings if c.system and c.code and (c.system, c.code[:40]) != kept[:2]]
    return others[:OTHER_CODINGS_KEPT] or None


def first_accepted(kind: str, codings: tuple[Coding, ...]) -> tuple[str, str, str] | None:
    """The first coding in a code system the kind of record accepts (system URI, code, display)."""
    for coding in codings:
        system = resolve_system(kind, coding.system)
        if system is not None and coding.code:
            return system.uri, coding.code[:40], (coding.display or coding.code)[:300]
    return None


class _Importer:
    def __init__(self, db: Session, bundle: dict[str, Any], site: str, actor: Actor,
                 fresh: bool = False) -> None:
        self.db, self.site, self.actor = db, site, actor
        self.entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict) and e.get("resource")]
        self.result = ImportResult()
        self.locations: dict[tuple[str, int | None], str] = {}
        self.patient_by_ref: dict[str, Whose] = {}
        self.zones: dict[int, str] = {}
        # a systolic or diastolic sent as an Observation of its own, by patient and time: the
        # other side at the same time joins it, as screening the bundle pairs them
        self.loose_sides: dict[tuple[int, Any], VitalSigns] = {}
        # a resource another refers to (a Medication), by its full URL or its type and id
        self.by_ref = {f"{e['resource'].get('resourceType')}/{e['resource']['id']}": e["resource"]
                       for e in self.entries if e["resource"].get("id")}
        self.by_ref |= {str(e.get("fullUrl")): e["resource"] for e in self.entries if e.get("fullUrl")}
        known = [source_key(e) for e in self.entries]
        self.seen = set(db.execute(select(ImportedResource.source_key).where(
            ImportedResource.source_key.in_(known))).scalars()) if known and not fresh else set()

    def run(self) -> ImportResult:
        for entry in self.entries:
            if entry["resource"]["resourceType"] == "Patient":
                self._patient(entry)
        for entry in self.entries:
            if entry["resource"]["resourceType"] != "Patient":
                self._other(entry)
        for patient in {p.pk: p for p in self.patient_by_ref.values()}.values():
            audit.record(db=self.db, actor=self.actor, action="import", record_type="Patient",
                         record_id=patient.id, patient_id=patient.id,
                         detail=f"FHIR import: {dict(self.result.created)} created, "
                                f"{sum(self.result.unchanged.values())} unchanged, "
                                f"{sum(self.result.skipped.values())} skipped")
        return self.result

    def _location(self, record_type: str, record_pk: int | None) -> str:
        fhir_type = {"Patient": "Patient", "Condition": "Condition", "Medication":
                     "MedicationStatement", "Allergy": "AllergyIntolerance",
                     "VitalSigns": "Observation", "StatusObservation": "Observation"
                     }.get(record_type, "")
        ident = self.locations.get((record_type, record_pk), "")
        return f"{fhir_type}/{ident}" if fhir_type and ident else ""

    def _remember(self, entry: dict[str, Any], record_type: str, record_pk: int | None,
                  patient: Whose | None, outcome: str, reason: str = "") -> None:
        rtype = entry["resource"]["resourceType"]
        self.db.add(ImportedResource(source_key=source_key(entry), resource_type=rtype,
                                     record_type=record_type, record_pk=record_pk,
                                     patient_pk=patient.pk if patient else None, outcome=outcome,
                                     reason=reason[:300], created_by=self.actor.username))
        key = source_key(entry)
        if outcome == "created":
            self.result.created[rtype] += 1
            self.result.outcomes[key] = ("201 Created", self._location(record_type, record_pk), "")
        else:
            self.result.skipped[rtype] += 1
            self.result.reasons[f"{rtype}: {reason}"] += 1
            self.result.outcomes[key] = ("200 OK", "", f"not stored: {reason}")

    def _patient(self, entry: dict[str, Any]) -> None:
        resource, key = entry["resource"], source_key(entry)
        refs = {str(entry.get("fullUrl") or ""), f"Patient/{resource.get('id', '')}"}
        if key in self.seen:
            pk = self.db.execute(select(ImportedResource.record_pk).where(
                ImportedResource.source_key == key)).scalar_one()
            patient = self.db.execute(select(Patient).where(Patient.pk == pk)).scalar_one()
            if not can_reach_patient(self.actor, patient_pk=patient.pk,
                                     patient_site_pks=set(patient.site_pks)):
                # Never a write into a chart out of reach, nor its id in the answer.
                raise Forbidden(f"entry {entry.get('fullUrl') or key}: this Patient was imported "
                                "before by a site you do not work at; it cannot be changed here")
            self.result.unchanged["Patient"] += 1
            self.result.outcomes[key] = ("200 OK", f"Patient/{patient.id}", "already imported")
        else:
            patient = patients.register(db=self.db, actor=self.actor, data=self._patient_in(resource))
            if _death(resource).get("deceased"):
                self._record_death(patient, resource)
            self.locations[("Patient", patient.pk)] = str(patient.id)
            self._remember(entry, "Patient", patient.pk, patient, "created")
        for ref in refs:
            self.patient_by_ref[ref] = patient
        self.result.patients.append(str(patient.id))

    def _record_death(self, patient: Patient, r: dict[str, Any]) -> None:
        try:
            died = schemas.PatientUpdate.model_validate(_death(r))
        except ValidationError:
            raise invalid("Patient.deceasedDateTime", f"{r.get('deceasedDateTime')!r} is not a "
                          "date", "a date or date and time, YYYY-MM-DD...") from None
        patients.update_demographics(db=self.db, patient_id=str(patient.id), data=died,
                                     actor=self.actor)

    def _patient_in(self, r: dict[str, Any]) -> schemas.PatientIn:
        born = r.get("birthDate")
        if isinstance(born, str) and len(born.strip()) in (4, 7):
            # FHIR allows a year or a month; the chart keeps the day the adult check reads
            raise invalid("Patient.birthDate", f"{born!r} gives no day, and the chart keeps a "
                          "full birth date", "a full birth date, YYYY-MM-DD")
        try:
            values = {k: v for k, v in demographics(r).items()
                      if k not in ("email", "deceased", "deceased_on")}
            site = organizations.managing_site(self.db, self.actor, r, self.site)
            return schemas.PatientIn.model_validate({**values, "site": site})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise invalid(f"Patient.{'.'.join(str(p) for p in first['loc'])}", first["msg"],
                          "a patient with a name, birth date and gender") from None

    def _subject(self, resource: dict[str, Any]) -> Whose | None:
        reference = str((resource.get("subject") or resource.get("patient") or {}).get("reference", ""))
        if reference not in self.patient_by_ref:
            found = _existing_keys(self.db, reference, self.actor)
            if found is None and reference.startswith(("Patient/", "Patient?")):
                # A patient of the clinic the caller may not reach (or none): the whole request
                # is refused, as a read would be, and nothing is written or remembered.
                raise patients.OutOfReach(reference)
            if found is not None:
                self.patient_by_ref[reference] = found
        return self.patient_by_ref.get(reference)

    def _other(self, entry: dict[str, Any]) -> None:
        resource = entry["resource"]
        rtype = resource["resourceType"]
        if source_key(entry) in self.seen:
            self.result.unchanged[rtype] += 1
            self.result.outcomes[source_key(entry)] = ("200 OK", "", "already imported")
            return
        patient = self._subject(resource)
        handlers = {"Condition": self._condition, "MedicationRequest": self._medication,
                    "MedicationStatement": self._medication, "AllergyIntolerance": self._allergy,
                    "Observation": self._observation}
        if rtype not in handlers:
            self._remember(entry, "", None, patient, "skipped", f"{KEPT_ELSEWHERE} ({rtype})")
            return
        if patient is None:
            self._remember(entry, "", None, None, "skipped",
                           "its patient is not in the bundle, or not a patient you may reach")
            return
        record, reason = handlers[rtype](resource, patient)
        if record is None:
            self._remember(entry, "", None, patient, "skipped", reason)
            return
        self.db.add(record)
        self.db.flush()
        self.locations[(type(record).__name__, record.pk)] = (
            vital_observations(record, "")[0]["id"] if isinstance(record, VitalSigns)
            else str(record.id))
        self._remember(entry, type(record).__name__, record.pk, patient, "created")
        self.result.written[source_key(entry)] = (record, patient.id)

    def _condition(self, r: dict[str, Any], patient: Whose) -> tuple[Any, str]:
        fact = condition_fact(r)
        coded = coded_or_as_sent("condition", fact.codings, fact.text)
        if coded is None:
            return None, "no accepted code system (SNOMED CT or ICD-10-CM) and no text"
        status = fact.clinical_status if fact.clinical_status in CONDITION_STATUSES else (
            "resolved" if fact.abatement else "active")
        verification = fact.verification_status or "confirmed"
        # A condition with no category the clinic keeps goes on the problem list.
        category = condition_category_of(r) or "problem-list-item"
        return Condition(patient_pk=patient.pk, system=coded[0], code=coded[1], display=coded[2],
                         other_codings=other_codings(fact.codings, coded),
                         clinical_status=status, verification_status=verification,
                         category=category,
                         onset_date=fact.onset, abatement_date=fact.abatement,
                         created_by=self.actor.username), ""

    def _medication(self, r: dict[str, Any], patient: Whose) -> tuple[Any, str]:
        fact = medication_fact(r, self.by_ref)
        coded = coded_or_as_sent("medication", fact.codings, fact.text)
        if coded is None:
            return None, "no accepted code system (RxNorm) and no text"
        status = fact.status if fact.status in MEDICATION_STATUSES else "unknown"
        return Medication(patient_pk=patient.pk, system=coded[0], code=coded[1], display=coded[2],
                          other_codings=other_codings(fact.codings, coded),
                          status=status, start_date=fact.start, end_date=fact.end,
                          dose_value=fact.daily_dose_mg, dose_unit="mg/day" if fact.daily_dose_mg
                          else "", created_by=self.actor.username), ""

    def _allergy(self, r: dict[str, Any], patient: Whose) -> tuple[Any, str]:
        fact = allergy_fact(r)
        coded = coded_or_as_sent("allergy", fact.codings, fact.text)
        if coded is None:
            return None, "no accepted code system and no text"
        criticality = r.get("criticality") if r.get("criticality") in (
            "low", "high", "unable-to-assess") else "unable-to-assess"
        return Allergy(patient_pk=patient.pk, system=coded[0], code=coded[1], display=coded[2],
                       other_codings=other_codings(fact.codings, coded),
                       kind=fact.kind, criticality=criticality,
                       clinical_status=fact.clinical_status or "active",
                       verification_status=fact.verification_status or "confirmed",
                       created_by=self.actor.username), ""

    def _zone(self, patient: Whose) -> str:
        """The patient's site's time zone: the clock a time sent without its zone is read on."""
        if patient.pk not in self.zones:
            self.zones[patient.pk] = patients.time_zone_of_pk(self.db, patient.pk)
        return self.zones[patient.pk]

    def _observation(self, r: dict[str, Any], patient: Whose) -> tuple[Any, str]:
        codes = {c.get("code") for c in (r.get("code") or {}).get("coding") or []
                 if c.get("system") == "http://loinc.org"}
        if r.get("status") in NOT_A_READING:
            return None, f"status {r.get('status')}"
        if codes & watched_codes():
            return self._status_observation(r, patient)
        taken = parse_datetime(effective(r), self._zone(patient))
        values: dict[str, Any] = {}
        one_side = False  # a systolic or a diastolic on its own, not in a panel
        if "85354-9" in codes or pressure_components(r):
            for component in r.get("component") or []:
                code = {c.get("code") for c in (component.get("code") or {}).get("coding") or []}
                field = next((f for c, f in PRESSURE_FIELDS.items() if c in code), None)
                if field is None:
                    continue
                value, problem = in_stored_unit(field, component.get("valueQuantity"))
                if problem and component.get("valueQuantity") is not None:
                    return None, problem
                values[field] = value
        elif codes & PRESSURE_FIELDS.keys():
            one_side = True
            field = PRESSURE_FIELDS[min(codes & PRESSURE_FIELDS.keys())]
            value, problem = in_stored_unit(field, r.get("valueQuantity"))
            if problem and r.get("valueQuantity") is not None:
                return None, problem
            if value is not None:
                values[field] = value
        else:
            fields = [VITAL_CODES[c] for c in codes if c in VITAL_CODES]
            if not fields or not isinstance((r.get("valueQuantity") or {}).get("value"),
                                            int | float):
                return None, f"{KEPT_ELSEWHERE} (not a vital sign)"
            value, problem = in_stored_unit(fields[0], r.get("valueQuantity"))
            if problem:
                return None, problem
            values[fields[0]] = value
        if taken is None or not values:
            return None, "no time or no value"
        problems = vital_problems({**values, "measured_at": taken}, clock.now())
        if problems:
            return None, f"outside the clinic's plausible range ({problems[0].field}: {problems[0].accepted})"
        if one_side:
            return self._loose_side(patient, taken, values)
        # in UTC, as the database gives it back: the answer to a create is built from this record
        return VitalSigns(patient_pk=patient.pk, measured_at=taken.astimezone(UTC),
                          created_by=self.actor.username, **values), ""

    def _loose_side(self, patient: Whose, taken: Any, values: dict[str, float]
                    ) -> tuple[Any, str]:
        """A systolic or diastolic on its own: joined to the other side taken at the same time
        in this bundle, if it has no such side yet, else a reading of its own."""
        [(field, value)] = values.items()
        paired = self.loose_sides.get((patient.pk, taken))
        if paired is not None and getattr(paired, field) is None:
            sides = {f: getattr(paired, f) for f in PRESSURE_FIELDS.values()} | values
            problems = pressure_problems(sides)
            if problems:
                return None, f"{problems[0].field}: {problems[0].message}"
            setattr(paired, field, value)
            return paired, ""
        record = VitalSigns(patient_pk=patient.pk, measured_at=taken.astimezone(UTC),
                            created_by=self.actor.username, **values)
        self.loose_sides[(patient.pk, taken)] = record
        return record, ""


    def _status_observation(self, r: dict[str, Any], patient: Whose) -> tuple[Any, str]:
        """A pregnancy status, hCG test or breastfeeding status, kept when its answer can be
        read (screening from the chart then reads it as screening from the record does)."""
        facts = status_observation_facts([r], self._zone(patient))
        if not facts:
            return None, "no time"
        fact = facts[0]
        code = next(c for c in fact.codes if c.system == LOINC and c.code in watched_codes())
        kind = kind_of(code.code)
        if kind is None or kind.answer(fact) is None:
            return None, ("the answer is not one the clinic reads (accepted: the codes, words or "
                          "yes/no of status_observations)")
        value = next(iter(fact.value_codes), None)
        return StatusObservation(
            patient_pk=patient.pk, system=LOINC, code=code.code,
            display=(code.display or kind.names.get(code.code, kind.title))[:300],
            taken_at=fact.taken.astimezone(UTC),
            value_system=value.system[:100] if value else "", value_code=value.code[:40] if value else "",
            value_display=value.display[:300] if value else "", value_text=fact.value_text[:300],
            value_boolean=fact.value_boolean, created_by=self.actor.username), ""


def demographics(r: dict[str, Any]) -> dict[str, Any]:
    """A Patient resource's name, birth date, gender, phone, email and address as registry fields."""
    name = next((n for n in r.get("name") or [] if n.get("use") == "official"),
                (r.get("name") or [{}])[0])
    telecom = {t.get("system"): t.get("value") for t in r.get("telecom") or []}
    address: dict[str, Any] = next(iter(r.get("address") or []), {})
    parts = [*(address.get("line") or []),
             *(str(address[k]) for k in ("city", "state", "postalCode") if address.get(k))]
    return {"family_name": str(name.get("family") or "Unknown")[:100],
            "given_name": " ".join(name.get("given") or ["Unknown"])[:100],
            "birth_date": r.get("birthDate"),
            "sex": r.get("gender") if r.get("gender") in ("female", "male", "other") else "unknown",
            "phone": str(telecom.get("phone") or "")[:40], "email": str(telecom.get("email") or ""),
            "address": str(address.get("text") or ", ".join(parts))[:500], **_death(r)}


def _death(r: dict[str, Any]) -> dict[str, Any]:
    """A Patient's deceased[x] as registry fields: a deceasedDateTime records the death and its
    day (when it gives one); deceasedBoolean says whether; neither leaves it as it is."""
    when, deceased = r.get("deceasedDateTime"), r.get("deceasedBoolean")
    if isinstance(when, str) and when:
        return {"deceased": True, "deceased_on": when[:10] if len(when) >= 10 else None}
    return {"deceased": deceased, "deceased_on": None} if isinstance(deceased, bool) else {}


def existing_patient(db: Session, reference: str, actor: Actor) -> Patient | None:
    """A patient already in the clinic named by `Patient/<id>` or the conditional reference
    `Patient?identifier=https://ketaclinic.org/mrn/<SITE>|<MRN>`, within the actor's reach."""
    patient_id = _referenced_id(db, reference)
    if not patient_id:
        return None
    try:
        return patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="FHIR write")
    except patients.OutOfReach:
        return None


def _existing_keys(db: Session, reference: str, actor: Actor) -> PatientKeys | None:
    """The keys of the patient `existing_patient` finds (a record written for a patient needs
    no more of them), the read audited as there."""
    patient_id = _referenced_id(db, reference)
    if not patient_id:
        return None
    try:
        return patients.open_patient_keys(db=db, patient_id=patient_id, actor=actor,
                                          purpose="FHIR write")
    except patients.OutOfReach:
        return None


def _referenced_id(db: Session, reference: str) -> str:
    """The public id a patient reference names ('' if none does)."""
    from ketaclinic.fhir.mapping import MRN_SYSTEM
    from ketaclinic.patients.models import PatientMrn

    if reference.startswith("Patient?identifier="):
        system, _, value = reference.split("=", 1)[1].partition("|")
        site = system[len(MRN_SYSTEM):] if system.startswith(MRN_SYSTEM) else ""
        from ketaclinic.clinics.models import Site
        found = db.execute(select(Patient.id).join(PatientMrn).join(
            Site, Site.pk == PatientMrn.site_pk).where(Site.code == site, PatientMrn.mrn == value)
        ).scalar_one_or_none()
        return str(found) if found else ""
    if reference.startswith("Patient/"):
        return reference.split("/", 1)[1]
    return ""


def import_bundle(*, db: Session, bundle: dict[str, Any], site: str, actor: Actor,
                  fresh: bool = False) -> ImportResult:
    """Import one bundle in the caller's transaction (the caller commits, or rolls back all);
    `fresh`: the caller gave every entry a full URL of its own making (a new urn:uuid), so none
    can have been imported before and that is not looked up. An entry with neither a full URL
    nor an id is given a urn:uuid of its own in `bundle`, by which the caller finds its
    outcome."""
    check_bundle(bundle)
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and not entry.get("fullUrl") and not resource.get("id"):
            # one identity for the entry throughout, so the answer says what became of it
            entry["fullUrl"] = f"urn:uuid:{uuid.uuid4()}"
    return _Importer(db, bundle, site, actor, fresh).run()
