"""Patient search as US Core and ordinary clients use it, answered in SQL a page at a time:
`_id`, `identifier` (system|value, exact), `name`, `family`, `given`, `birthdate` (with
prefixes), `gender`, `_lastUpdated`. Repeated parameters must all match; comma-separated values
are alternatives."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Site
from ketaclinic.fhir import store
from ketaclinic.fhir.filters import Filters
from ketaclinic.fhir.mapping import MRN_SYSTEM
from ketaclinic.fhir.search import DateRange, parse_date, parse_token
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient, PatientMrn

PARAMS = {"_id": "token", "identifier": "token", "name": "string", "family": "string",
          "given": "string", "birthdate": "date", "gender": "token"}
GENDERS = ("male", "female", "other", "unknown")


def _starts(column: Any, value: str) -> Any:
    return func.lower(column).startswith(value.casefold(), autoescape=True)


def _identifier(raw: str) -> Any:
    system, value = parse_token(raw)
    mrn = select(PatientMrn.patient_pk).where(PatientMrn.mrn == value)
    if system is not None:
        if not system.startswith(MRN_SYSTEM):
            return false()  # no identifier of another system is kept
        mrn = mrn.join(Site, Site.pk == PatientMrn.site_pk).where(
            Site.code == system.removeprefix(MRN_SYSTEM))
    elif raw.startswith("|"):
        return false()  # `|value`: an identifier with no system; every MRN has one
    return Patient.pk.in_(mrn)


def _day_from(moment: datetime) -> date:
    """The first day whose midnight (UTC) is at or after the moment."""
    moment = moment.astimezone(UTC)
    day = moment.date()
    return day if moment.time() == datetime.min.time() else day + timedelta(days=1)


def _birthdate(date_range: DateRange) -> Any:
    # A birth date is compared as its midnight UTC, as a date-time search would compare it.
    start, end = _day_from(date_range.start), _day_from(date_range.end)
    if date_range.prefix == "eq":
        return and_(Patient.birth_date >= start, Patient.birth_date < end)
    return {"lt": Patient.birth_date < start, "le": Patient.birth_date < end,
            "gt": Patient.birth_date >= end}.get(date_range.prefix, Patient.birth_date >= start)


def _ids(raw: str) -> Any:
    keys = []
    for value in raw.split(","):
        try:
            keys.append(uuid.UUID(value))
        except ValueError:
            continue  # an id this server never gave matches nothing
    return Patient.id.in_(keys) if keys else false()


def conditions(params: dict[str, list[str]]) -> list[Any]:
    """SQL conditions on Patient for the search's parameters."""
    found: list[Any] = []
    for raw in params.get("_id", []):
        found.append(_ids(raw))
    for raw in params.get("identifier", []):
        found.append(or_(*[_identifier(v) for v in raw.split(",")]))
    for raw in params.get("name", []):
        found.append(or_(*[Patient.search_name.contains(v.casefold(), autoescape=True)
                           for v in raw.split(",")]))
    for raw in params.get("family", []):
        found.append(or_(*[_starts(Patient.family_name, v) for v in raw.split(",")]))
    for raw in params.get("given", []):
        found.append(or_(*[_starts(Patient.given_name, v) for v in raw.split(",")]))
    for raw in params.get("gender", []):
        found.append(Patient.sex.in_([v.strip() for v in raw.split(",")]))
    found += [_birthdate(parse_date("birthdate", raw)) for raw in params.get("birthdate", [])]
    found += Filters.parse("Patient", {"_lastUpdated": params.get("_lastUpdated", [])}).sql(
        None, Patient.updated_at)
    return found


def search(db: Session, actor: Actor, params: dict[str, list[str]], offset: int,
           count: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the Patients the search finds within the caller's reach, and how many."""
    described = " ".join(f"{k}={v!r}" for k, values in sorted(params.items()) for v in values
                         if k in PARAMS or k == "_lastUpdated")
    found, total = patients.find(db=db, actor=actor, conditions=conditions(params), limit=count,
                                 offset=offset, described=described,
                                 columns=store.PATIENT_COLUMNS)
    return [store.patient_of_rows(rows) for rows in found], total
