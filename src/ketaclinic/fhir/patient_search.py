"""Patient search as US Core and ordinary clients use it, answered in SQL a page at a time:
`_id`, `identifier` (system|value, exact), `name`, `family`, `given`, `birthdate` (with
prefixes), `gender`, `_lastUpdated`. Repeated parameters must all match; comma-separated values
are alternatives."""

import uuid
from collections.abc import Hashable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, false, func, or_, select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Site
from ketaclinic.db import one_of
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


class Binds:
    """The values a search's conditions compare with, bound by name in the order they were asked
    for, and the shape of the conditions' SQL: two searches of one shape share their statement,
    run with each one's values (`patients.find` keeps it)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.values: dict[str, Any] = {}
        self.shape: list[Hashable] = []

    def _name(self, value: Any) -> str:
        name = f"v{len(self.values)}"
        self.values[name] = value
        return name

    def value(self, value: Any) -> Any:
        """A bound parameter for the value."""
        return bindparam(self._name(value))

    def one_of(self, column: Any, values: list[Any]) -> Any:
        """SQL: the column holds one of the values, bound as one list (`db.one_of`), so the
        statement's text does not change with how many there are."""
        return one_of(column, self._name(values), self.dialect)

    def note(self, *parts: Hashable) -> None:
        """Note what the SQL text depends on beyond the values (a parameter, a form, a count)."""
        self.shape.append(parts)


def _like_start(text: str) -> str:
    """A LIKE pattern (escape character `/`) for values that start with the text, as typed."""
    return text.casefold().replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _starts(binds: Binds, column: Any, value: str) -> Any:
    return func.lower(column).like(binds.value(_like_start(value)), escape="/")


def _identifier(binds: Binds, raw: str) -> Any:
    system, value = parse_token(raw)
    if (system is not None and not system.startswith(MRN_SYSTEM)) or (
            system is None and raw.startswith("|")):
        # no identifier of another system is kept; `|value` asks for one with no system, and
        # every MRN has one
        binds.note("identifier", "none")
        return false()
    mrn = select(PatientMrn.patient_pk).where(PatientMrn.mrn == binds.value(value))
    binds.note("identifier", system is not None)
    if system is not None:
        mrn = mrn.join(Site, Site.pk == PatientMrn.site_pk).where(
            Site.code == binds.value(system.removeprefix(MRN_SYSTEM)))
    return Patient.pk.in_(mrn)


def _day_from(moment: datetime, zone: str) -> date:
    """The first day whose midnight in the clinic's zone is at or after the moment."""
    moment = moment.astimezone(ZoneInfo(zone))
    day = moment.date()
    return day if moment.time() == datetime.min.time() else day + timedelta(days=1)


def _birthdate(binds: Binds, date_range: DateRange, zone: str) -> Any:
    # A birth date is compared as its midnight in the clinic's zone, as a date-time search
    # would compare it.
    start, end = _day_from(date_range.start, zone), _day_from(date_range.end, zone)
    binds.note("birthdate", date_range.prefix)
    if date_range.prefix == "eq":
        return and_(Patient.birth_date >= binds.value(start), Patient.birth_date < binds.value(end))
    below, day = {"lt": (True, start), "le": (True, end), "gt": (False, end)}.get(
        date_range.prefix, (False, start))
    bound = binds.value(day)
    return Patient.birth_date < bound if below else Patient.birth_date >= bound


def _ids(binds: Binds, raw: str) -> Any:
    keys = []
    for value in raw.split(","):
        try:
            keys.append(uuid.UUID(value))
        except ValueError:
            continue  # an id this server never gave matches nothing
    binds.note("_id", bool(keys))
    return binds.one_of(Patient.id, keys) if keys else false()


def _alternatives(binds: Binds, name: str, raw: str, condition: Any) -> Any:
    values = raw.split(",")
    binds.note(name, len(values))
    return or_(*[condition(value) for value in values])


def conditions(params: dict[str, list[str]], binds: Binds, zone: str = "UTC") -> list[Any]:
    """SQL conditions on Patient for the search's parameters, their values bound in `binds`;
    dates without a zone read in `zone`, the searcher's clinic's."""
    found: list[Any] = []
    for raw in params.get("_id", []):
        found.append(_ids(binds, raw))
    for raw in params.get("identifier", []):
        found.append(_alternatives(binds, "identifier", raw,
                                   lambda v: _identifier(binds, v)))
    for raw in params.get("name", []):
        found.append(_alternatives(binds, "name", raw, lambda v: Patient.search_name.like(
            binds.value("%" + _like_start(v)), escape="/")))
    for raw in params.get("family", []):
        found.append(_alternatives(binds, "family", raw,
                                   lambda v: _starts(binds, Patient.family_name, v)))
    for raw in params.get("given", []):
        found.append(_alternatives(binds, "given", raw,
                                   lambda v: _starts(binds, Patient.given_name, v)))
    for raw in params.get("gender", []):
        binds.note("gender")
        found.append(binds.one_of(Patient.sex, [v.strip() for v in raw.split(",")]))
    found += [_birthdate(binds, parse_date("birthdate", raw, zone), zone)
              for raw in params.get("birthdate", [])]
    if params.get("_lastUpdated"):
        # its values are in the SQL, read in the searcher's zone
        binds.note("_lastUpdated", tuple(params["_lastUpdated"]), zone)
        found += Filters.parse("Patient", {"_lastUpdated": params["_lastUpdated"]}, zone).sql(
            None, Patient.updated_at)
    return found


def search(db: Session, actor: Actor, params: dict[str, list[str]], offset: int,
           count: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the Patients the search finds within the caller's reach, and how many."""
    described = " ".join(f"{k}={v!r}" for k, values in sorted(params.items()) for v in values
                         if k in PARAMS or k == "_lastUpdated")
    binds = Binds(db.get_bind().dialect.name)
    where = conditions(params, binds, actor.time_zone)
    found, total = patients.find(db=db, actor=actor, conditions=where, limit=count,
                                 offset=offset, described=described,
                                 columns=store.PATIENT_COLUMNS, values=binds.values,
                                 shape=tuple(binds.shape))
    return [store.patient_of_rows(rows) for rows in found], total
