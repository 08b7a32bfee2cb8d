"""The FHIR R4 face under /fhir: CapabilityStatement, read, search with paging, $everything."""

import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from ketaclinic import __version__, clock
from ketaclinic.clinics import service as clinics
from ketaclinic.errors import InvalidInput, InvalidSearch, NotFound, invalid
from ketaclinic.fhir import (
    filters,
    importer,
    mapping,
    observations,
    organizations,
    patient_search,
    questionnaires,
    session_searches,
    store,
    updates,
)
from ketaclinic.fhir import measures as measure_map
from ketaclinic.fhir.search import SearchPage, parse_count, parse_offset
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.measures import service as measures
from ketaclinic.patients import service as patients
from ketaclinic.patients.schemas import PatientUpdate
from ketaclinic.settings import get_settings
from ketaclinic.web.deps import BODY, DB, require
from ketaclinic.web.fast_json import FastJSONResponse
from ketaclinic.web.forms import validate
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.operation_outcome import FHIR_JSON

router = APIRouter(route_class=OneTripRoute, prefix="/fhir", tags=["FHIR R4"])
SUPPORTED = ("Patient", *store.COMPARTMENT_TYPES, "Questionnaire", "Organization", "Location")
COMMON = {"_count", "_offset", "_id", "_lastUpdated", "_format", "_summary"}
CREATABLE = ("Patient", "Condition", "AllergyIntolerance", "MedicationStatement", "Observation")


def json_body(raw: bytes, expected: str) -> Any:
    """The request body parsed as JSON, or a refusal naming what was expected."""
    try:
        return json.loads(raw)
    except ValueError:
        raise invalid("body", "is not JSON", expected) from None


def fhir_response(body: dict[str, Any], status: int = 200) -> JSONResponse:
    """A FHIR JSON response."""
    return FastJSONResponse(body, status_code=status, media_type=FHIR_JSON)


def _search_params(resource_type: str) -> list[dict[str, str]]:
    params = [{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"},
              {"name": "_count", "type": "number"}]
    if resource_type == "Questionnaire":
        return [*params, {"name": "url", "type": "uri"}]
    if resource_type in organizations.SEARCH_PARAMS:
        return [*params, *[{"name": name, "type": kind} for name, kind
                           in organizations.SEARCH_PARAMS[resource_type].items()]]
    if resource_type == "Patient":
        return [*params, *[{"name": name, "type": kind} for name, kind
                           in patient_search.PARAMS.items() if name != "_id"]]
    params += [{"name": "patient", "type": "reference",
                "documentation": "required (or subject); a patient token defaults to itself"},
               {"name": "subject", "type": "reference"},
               {"name": filters.DATE_PARAMS[resource_type][0], "type": "date",
                "documentation": "prefixes eq, lt, le, gt, ge"}]
    if resource_type in filters.CODE_FIELDS:
        params.append({"name": "code", "type": "token"})
    params += [{"name": name, "type": "token"}
               for name in filters.TOKEN_PARAMS.get(resource_type, {})]
    params += [{"name": name, "type": "date", "documentation": "prefixes eq, lt, le, gt, ge"}
               for name in filters.MORE_DATE_PARAMS.get(resource_type, {})]
    if resource_type == "Observation":
        params += [{"name": "_sort", "type": "special",
                    "documentation": "date (oldest first) or -date (newest first)"},
                   {"name": "_cursor", "type": "special",
                    "documentation": "where a page sorted by date starts, as the previous "
                                     "page's next link gives it"}]
    return params


@router.get("/metadata")
def capability_statement() -> JSONResponse:
    """What this server supports, and nothing it does not."""
    public = get_settings().public_url.rstrip("/")
    return fhir_response({
        "resourceType": "CapabilityStatement", "status": "active", "date": clock.today("UTC").isoformat(),
        "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
        "software": {"name": "ketaclinic", "version": __version__},
        "implementation": {"description": "ketaclinic FHIR R4 face"},
        "rest": [{
            "mode": "server",
            "documentation": "Bearer tokens from POST /api/v1/auth/token; a patient's token sees "
                             "only that patient's compartment. Measures without a LOINC code "
                             "(MADRS, QIDS-SR16, CADSS, MOAA/S and some items) use the code system "
                             "https://ketaclinic.org/CodeSystem/instrument.",
            "security": {
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [
                        {"url": "authorize", "valueUri": f"{public}/oauth/authorize"},
                        {"url": "token", "valueUri": f"{public}/api/v1/oauth/token"},
                        {"url": "manage", "valueUri": f"{public}/account/apps"}]}],
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}],
                    "text": "SMART App Launch and Backend Services (see "
                            ".well-known/smart-configuration), or a ketaclinic bearer token"}]},
            "resource": [{"type": t, "interaction": [
                {"code": "read"}, {"code": "search-type"},
                *([{"code": "create"}] if t in (*CREATABLE, "QuestionnaireResponse") else []),
                *([{"code": "update"}] if t in ("Patient", *updates.UPDATABLE) else [])],
                          "searchParam": _search_params(t),
                          **({"searchInclude": _subject_includes(t)}
                             if t in store.COMPARTMENT_TYPES else {})} for t in SUPPORTED],
            "interaction": [{"code": "transaction",
                             "documentation": "imports Patient, Condition, MedicationRequest, "
                                              "MedicationStatement, AllergyIntolerance and vital-sign "
                                              "Observations; other resources are acknowledged, not "
                                              "stored; re-posting changes nothing"},
                            {"code": "batch", "documentation": "processed like a transaction "
                                                               "(all or nothing)"}],
            "operation": [{"name": "everything",
                           "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}],
        }],
    })


def _params(request: Request) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        found.setdefault(key, []).append(value)
    return found


def _bundle(request: Request, resources: list[dict[str, Any]], total: int, offset: int,
            count: int, params: dict[str, list[str]], next_cursor: str | None = None
            ) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    path = request.url.path

    def page(start: int, cursor: list[str]) -> str:
        query = [(k, v) for k, values in params.items() for v in values
                 if k not in ("_offset", "_count", "_cursor")]
        query += [("_count", str(count)), ("_offset", str(start)),
                  *[("_cursor", c) for c in cursor]]
        return f"{base}{path}?{urlencode(query)}"

    links = [{"relation": "self", "url": page(offset, params.get("_cursor", [])[-1:])}]
    if offset + count < total:
        links.append({"relation": "next", "url": page(offset + count, [
            next_cursor] if next_cursor else [])})
    if offset > 0:
        links.append({"relation": "previous", "url": page(max(0, offset - count), [])})
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links,
            "timestamp": clock.now().isoformat(),
            "entry": [{"fullUrl": f"{base}/fhir/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


def _check_known(resource_type: str, params: dict[str, list[str]]) -> None:
    if resource_type not in SUPPORTED:
        raise NotFound(f"{resource_type} is not supported here (supported: {', '.join(SUPPORTED)})")
    known = COMMON | {p["name"] for p in _search_params(resource_type)} | (
        {"_include"} if resource_type in store.COMPARTMENT_TYPES else set())
    unknown = sorted(set(params) - known)
    if unknown:
        raise invalid(unknown[0], f"not a supported search parameter of {resource_type}",
                      ", ".join(sorted(known)))


@router.get("/Patient/{patient_id}/$everything")
def everything(request: Request, patient_id: str,
               actor: Actor = Depends(require(Permission.CLINICAL_READ)),
               db: Session = DB) -> JSONResponse:
    """The patient and every resource in their compartment, as one searchset."""
    patient = store.open_patient(db, patient_id, actor, "FHIR $everything")
    resources = [mapping.patient(patient)]
    for group in store.compartment(db, patient).values():
        resources += group
    return fhir_response(_bundle(request, resources, len(resources), 0, max(1, len(resources)), {}))


@router.get("/{resource_type}/{resource_id}")
def read(resource_type: str, resource_id: str,
         actor: Actor = Depends(require(Permission.CLINICAL_READ)),
         db: Session = DB) -> JSONResponse:
    """One resource by id."""
    _check_known(resource_type, {})
    if resource_type == "Questionnaire":
        found = [q for q in measure_map.questionnaires() if q["id"] == resource_id]
        if not found:
            raise NotFound(f"Questionnaire/{resource_id} is not known")
        return fhir_response(found[0])
    if resource_type in organizations.SEARCH_PARAMS:
        return fhir_response(organizations.read(db, actor, resource_type, resource_id))
    resource = store.read(db, resource_type, resource_id, actor)
    return fhir_response(resource)


@router.get("/{resource_type}", responses={400: {
    "description": "A search parameter is unknown or malformed: named, with what it accepts"}})
def search(request: Request, resource_type: str,
           actor: Actor = Depends(require(Permission.CLINICAL_READ)),
           db: Session = DB) -> JSONResponse:
    """Search one resource type; results page with `_count` and next/previous links, or
    `_summary=count` for the total alone. A parameter it cannot use is a 400."""
    try:
        return _search(request, resource_type, actor, db)
    except InvalidInput as exc:
        raise InvalidSearch(exc.problems) from exc


def _search(request: Request, resource_type: str, actor: Actor, db: Session) -> JSONResponse:
    params = _params(request)
    _check_known(resource_type, params)
    count = parse_count(params["_count"][-1] if "_count" in params else None)
    offset = parse_offset(params["_offset"][-1] if "_offset" in params else None)
    summary = params.pop("_summary", [])
    if summary not in ([], ["count"]):
        raise invalid("_summary", f"{summary[-1]!r} is not offered", "count")
    if summary:  # the total alone: the smallest page is counted and its entries left out
        body = _search_bundle(request, db, actor, resource_type, params, 0, 1)
        return fhir_response({**body, "entry": [], "link": [
            {"relation": "self", "url": str(request.url)}]})
    return fhir_response(_search_bundle(request, db, actor, resource_type, params, offset,
                                        count))


def _search_bundle(request: Request, db: Session, actor: Actor, resource_type: str,
                   params: dict[str, list[str]], offset: int, count: int) -> dict[str, Any]:
    if resource_type == "Questionnaire":
        urls = set(params.get("url", []))
        ids = {i for v in params.get("_id", []) for i in v.split(",")}
        matches = [q for q in measure_map.questionnaires()
                   if (not urls or q["url"] in urls) and (not ids or q["id"] in ids)]
        return _bundle(request, matches[offset:offset + count], len(matches), offset, count,
                       params)
    if resource_type in organizations.SEARCH_PARAMS:
        matches = organizations.search(db, actor, resource_type, params)
        return _bundle(request, matches[offset:offset + count], len(matches), offset, count,
                       params)
    if resource_type == "Patient":
        found, total = patient_search.search(db, actor, params, offset, count)
        return _bundle(request, found, total, offset, count, params)
    wanted = store.patient_of_search(params, actor, resource_type)
    if actor.is_patient and wanted and wanted != str(patients.own_id(db, actor)):
        # a patient's own record filters the search: another's finds nothing
        return _bundle(request, [], 0, offset, count, params)
    patient_id = wanted or str(patients.own_id(db, actor))
    purpose = f"FHIR search {resource_type}"
    # read before any chart is opened: bad input opens nothing
    chosen = filters.Filters.parse(resource_type, params, actor.time_zone)
    if resource_type in PAGED_IN_SQL and "_include" not in params:
        # the search needs the patient's keys alone, not the record, and opens the patient
        # itself (with its first statement, where it can)
        to_open = patients.PatientToOpen(patient_id, actor, purpose)
        paged = PAGED_IN_SQL[resource_type](db, to_open, params, chosen, offset, count)
        return _bundle(request, paged.entries, paged.total, offset, count, params,
                       paged.next_cursor)
    patient = store.open_patient(db, patient_id, actor, purpose)
    if resource_type in PAGED_IN_SQL:
        paged = PAGED_IN_SQL[resource_type](db, patient, params, chosen, offset, count)
    else:
        matches = [resource for resource in store.of_type(db, patient, resource_type)
                   if chosen.keeps_resource(resource)]
        paged = SearchPage(matches[offset:offset + count], len(matches))
    page = paged.entries
    bundle = _bundle(request, page, paged.total, offset, count, params, paged.next_cursor)
    if page and _includes(resource_type, params):
        # every match names this one patient: it is included once
        base = str(request.base_url).rstrip("/")
        bundle["entry"].append({"fullUrl": f"{base}/fhir/Patient/{patient.id}",
                                "resource": mapping.patient(patient),
                                "search": {"mode": "include"}})
    return bundle


def _observations(db: Session, whose: observations.Whose | patients.PatientToOpen,
                  params: dict[str, list[str]], wanted: filters.Filters, offset: int,
                  count: int) -> SearchPage:
    cursor = params.get("_cursor", [])
    return observations.search_page(db, whose, wanted, offset, count, _date_sort(params),
                                    cursor[-1] if cursor else None)


def _per_session(resource_type: str) -> Callable[..., SearchPage]:
    def paged(db: Session, whose: observations.Whose | patients.PatientToOpen,
              params: dict[str, list[str]], wanted: filters.Filters, offset: int,
              count: int) -> SearchPage:
        return SearchPage(*session_searches.search(
            db, resource_type, patients.opened(db, whose), wanted, offset, count))

    return paged


# The types a search pages in the database (the others filter the patient's built resources).
PAGED_IN_SQL = {"Observation": _observations,
                **{name: _per_session(name) for name in session_searches.KINDS}}
SORTS = {"date": False, "-date": True}  # `_sort` value: newest first?


def _date_sort(params: dict[str, list[str]]) -> bool | None:
    """Observation `_sort`: by date, oldest (`date`) or newest (`-date`) first; None: unsorted."""
    wanted = params.get("_sort", [])
    if not wanted:
        return None
    if len(wanted) > 1 or wanted[0] not in SORTS:
        raise invalid("_sort", f"{','.join(wanted)!r} is not offered", " or ".join(SORTS))
    return SORTS[wanted[0]]


def _subject_includes(resource_type: str) -> list[str]:
    """The `_include` values a compartment type offers: its reference to the patient."""
    return [f"{resource_type}:{name}" for name in ("patient", "subject")]


def _includes(resource_type: str, params: dict[str, list[str]]) -> bool:
    wanted = params.get("_include", [])
    offered = _subject_includes(resource_type)
    for value in wanted:
        if value not in offered:
            raise invalid("_include", f"{value!r} is not offered here", ", ".join(offered))
    return bool(wanted)


def _default_site(db: Session, actor: Actor, site: str) -> str:
    """The site new Patients without a `managingOrganization` of this clinic are registered
    at: `?site=` (one of the caller's), or the caller's only site; '' when they work at several
    and named none (each Patient must then name its site's Organization)."""
    if site or len(actor.site_pks) == 1:
        return clinics.chosen_site_code(db, actor, site, "the patients are")
    return ""


@router.post("")
def transaction(request: Request, site: str = "",
                actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                db: Session = DB, raw: bytes = BODY) -> JSONResponse:
    """A transaction or batch Bundle, imported all or nothing; the response lists each entry."""
    bundle = json_body(raw, "a FHIR Bundle in JSON")
    result = importer.import_bundle(db=db, bundle=bundle, actor=actor,
                                    site=_default_site(db, actor, site))
    entries = []
    for entry in bundle.get("entry") or []:
        status, location, note = result.outcomes.get(importer.source_key(entry),
                                                     ("200 OK", "", ""))
        response: dict[str, Any] = {"status": status}
        if location:
            response["location"] = location
        if note:
            response["outcome"] = {"resourceType": "OperationOutcome", "issue": [
                {"severity": "information", "code": "informational", "diagnostics": note}]}
        entries.append({"response": response})
    kind = "batch-response" if bundle.get("type") == "batch" else "transaction-response"
    return fhir_response({"resourceType": "Bundle", "type": kind, "entry": entries})


@router.post("/QuestionnaireResponse")
def create_questionnaire_response(
    request: Request,
    actor: Actor = Depends(require(Permission.MEASURES_WRITE)),
    db: Session = DB, raw: bytes = BODY) -> JSONResponse:
    """A completed questionnaire for one of the clinic's instruments, stored as a scored measure."""
    body = json_body(raw, "a QuestionnaireResponse in JSON")
    patient_id, data = questionnaires.measure_from_response(
        body, lambda pid: patients.time_zone_of_id(db, pid) or actor.time_zone)
    measure, _ = measures.add_measure(db=db, patient_id=patient_id, data=data, actor=actor)
    answers = measures.answers_of(db, [measure.pk])[measure.pk]
    resource = measure_map.questionnaire_response(measure, answers, patient_id)
    location = f"{str(request.base_url).rstrip('/')}/fhir/QuestionnaireResponse/{measure.id}"
    return FastJSONResponse(resource, status_code=201, media_type=FHIR_JSON,
                        headers={"Location": location})


@router.post("/{resource_type}")
def create(request: Request, resource_type: str, site: str = "",
           actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
           db: Session = DB, raw: bytes = BODY) -> JSONResponse:
    """Create a clinic-owned record; `If-None-Exist: identifier=<mrn system>|<mrn>` on Patient."""
    if resource_type not in CREATABLE:
        raise NotFound(f"{resource_type} cannot be created here (accepted: {', '.join(CREATABLE)}, "
                       "QuestionnaireResponse)")
    body = json_body(raw, f"a {resource_type} in JSON")
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise invalid("resourceType", f"the body is not a {resource_type}", resource_type)
    base = str(request.base_url).rstrip("/")
    condition = request.headers.get("if-none-exist", "")
    if resource_type == "Patient" and condition:
        if not condition.startswith("identifier="):
            raise invalid("If-None-Exist", f"{condition!r} is not supported",
                          f"identifier={mapping.MRN_SYSTEM}<SITE>|<MRN>")
        existing = importer.existing_patient(db, f"Patient?{condition}", actor)
        if existing is not None:
            return fhir_response(mapping.patient(existing), 200)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": body,
         "request": {"method": "POST", "url": resource_type}}]}
    chosen = _default_site(db, actor, site) if resource_type == "Patient" else ""
    result = importer.import_bundle(db=db, bundle=bundle, site=chosen, actor=actor, fresh=True)
    key, (status, location, note) = next(iter(result.outcomes.items()))
    if not status.startswith("201"):
        raise invalid(resource_type, note or "nothing was stored", "a resource the clinic keeps")
    created_type, created_id = location.split("/", 1)
    created = (store.read(db, created_type, created_id, actor) if created_type == "Patient"
               else store.as_written(db, created_type, created_id, *result.written[key]))
    return FastJSONResponse(created, status_code=201, media_type=FHIR_JSON,
                        headers={"Location": f"{base}/fhir/{location}"})


@router.put("/Patient/{patient_id}")
def update_patient(request: Request, patient_id: str,
                   actor: Actor = Depends(require(Permission.DEMOGRAPHICS_WRITE)),
                   db: Session = DB, raw: bytes = BODY) -> JSONResponse:
    """Replace a patient's demographics (name, birth date, gender, telecom, address)."""
    body = json_body(raw, "a Patient in JSON")
    if not isinstance(body, dict) or body.get("resourceType") != "Patient" or \
            body.get("id") not in (None, patient_id):
        raise invalid("id", "the body must be this Patient", f"Patient with id {patient_id}")
    values = importer.demographics(body)
    data = validate(PatientUpdate, values)
    patient = patients.update_demographics(db=db, patient_id=patient_id, data=data, actor=actor)
    return fhir_response(mapping.patient(patient))


@router.put("/{resource_type}/{resource_id}")
def update_entry(request: Request, resource_type: str, resource_id: str,
                 actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                 db: Session = DB, raw: bytes = BODY) -> JSONResponse:
    """Update a Condition, AllergyIntolerance or MedicationStatement (status, dates, notes)."""
    if resource_type not in updates.UPDATABLE:
        raise NotFound(f"{resource_type} cannot be updated here (accepted: Patient, "
                       f"{', '.join(updates.UPDATABLE)})")
    body = json_body(raw, f"a {resource_type} in JSON")
    if not isinstance(body, dict) or body.get("resourceType") != resource_type or \
            body.get("id") not in (None, resource_id):
        raise invalid("id", f"the body must be this {resource_type}",
                      f"{resource_type} with id {resource_id}")
    updates.update(db=db, resource_type=resource_type, resource_id=resource_id, body=body,
                   actor=actor)
    resource = store.read(db, resource_type, resource_id, actor)
    return fhir_response(resource)
