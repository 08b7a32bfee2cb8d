"""The search filters every compartment type shares (its date, `_lastUpdated`, `code`, `_id`),
parsed once and applied to a resource or to the few fields of one not yet built."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_

from ketaclinic.errors import invalid
from ketaclinic.fhir.dates import span_of
from ketaclinic.fhir.search import DateRange, parse_date, parse_token

# The date each type is searched by (FHIR parameter name, resource field).
DATE_PARAMS: dict[str, tuple[str, str]] = {
    "Observation": ("date", "effectiveDateTime"),
    "Encounter": ("date", "period.start"),
    "AllergyIntolerance": ("date", "recordedDate"),
    "Condition": ("recorded-date", "recordedDate"),
    "MedicationStatement": ("effective", "effectivePeriod.start"),
    "MedicationAdministration": ("effective-time", "effectivePeriod.start"),
    "MedicationRequest": ("authoredon", "authoredOn"),
    "QuestionnaireResponse": ("authored", "authored"),
}
# More date parameters of a type, each on its own field.
MORE_DATE_PARAMS: dict[str, dict[str, str]] = {
    "Condition": {"onset-date": "onsetDateTime", "abatement-date": "abatementDateTime"},
}
CODE_FIELDS = {"Observation": "code", "Condition": "code", "AllergyIntolerance": "code",
               "MedicationStatement": "medicationCodeableConcept",
               "MedicationRequest": "medicationCodeableConcept"}
# Token parameters each type is searched by beyond `code` (FHIR parameter name, resource field:
# a code, a CodeableConcept, a list of them, or a canonical URL).
TOKEN_PARAMS: dict[str, dict[str, str]] = {
    "Observation": {"category": "category"},
    "Condition": {"clinical-status": "clinicalStatus",
                  "verification-status": "verificationStatus", "category": "category"},
    "AllergyIntolerance": {"clinical-status": "clinicalStatus",
                           "verification-status": "verificationStatus"},
    "MedicationStatement": {"status": "status"},
    "MedicationAdministration": {"status": "status"},
    "MedicationRequest": {"status": "status", "intent": "intent"},
    "Encounter": {"status": "status"},
    "QuestionnaireResponse": {"status": "status", "questionnaire": "questionnaire"},
}


def moment_of(value: Any, zone: str = "UTC") -> Any:
    """A FHIR date or date-time as an aware datetime (a date: its midnight in `zone`)."""
    return span_of(value, zone)[0] if value else None


def _field(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _within(moment: Any, ranges: list[DateRange]) -> bool:
    if not ranges:
        return True
    return moment is not None and all(r.matches(moment) for r in ranges)


def _range_sql(column: Any, date_range: DateRange) -> Any:
    """`DateRange.matches` as a condition on a column."""
    if date_range.prefix == "eq":
        return and_(column >= date_range.start, column < date_range.end)
    return {"lt": column < date_range.start, "le": column < date_range.end,
            "gt": column >= date_range.end}.get(date_range.prefix, column >= date_range.start)


@dataclass(frozen=True)
class Filters:
    """A search's date, `_lastUpdated`, `code` and `_id` conditions for one resource type."""

    resource_type: str
    dates: list[DateRange]
    updated: list[DateRange]
    codes: list[list[tuple[str | None, str]]]
    ids: set[str]
    tokens: list[tuple[str, list[tuple[str | None, str]]]] = field(default_factory=list)
    more_dates: list[tuple[str, DateRange]] = field(default_factory=list)
    # The clinic's zone, that dates without one (searched for, or in a resource) are read in.
    zone: str = "UTC"

    @classmethod
    def parse(cls, resource_type: str, params: dict[str, list[str]],
              zone: str = "UTC") -> "Filters":
        """The filters a search's parameters ask for (an InvalidInput naming a bad one); dates
        without a zone read in `zone`, the searcher's clinic's."""
        date_name, _ = DATE_PARAMS.get(resource_type, ("birthdate", "birthDate"))
        codes = [[parse_token(t) for t in v.split(",")] for v in params.get("code", [])]
        if codes and resource_type not in CODE_FIELDS:
            raise invalid("code", f"not a search parameter of {resource_type}",
                          ", ".join(CODE_FIELDS))
        return cls(resource_type,
                   dates=[parse_date(date_name, v, zone) for v in params.get(date_name, [])],
                   updated=[parse_date("_lastUpdated", v, zone)
                            for v in params.get("_lastUpdated", [])],
                   codes=codes, ids={i for v in params.get("_id", []) for i in v.split(",")},
                   tokens=[(path, [_token(t) for t in v.split(",")])
                           for name, path in TOKEN_PARAMS.get(resource_type, {}).items()
                           for v in params.get(name, [])],
                   more_dates=[(path, parse_date(name, v, zone))
                               for name, path in MORE_DATE_PARAMS.get(resource_type, {}).items()
                               for v in params.get(name, [])], zone=zone)

    def __hash__(self) -> int:
        # Filters asking the same hash alike: searches keep the statements they build by them.
        return hash(self.key())

    def key(self) -> tuple[Any, ...]:
        """What the filters ask, as a hashable value."""
        return (self.resource_type, tuple(self.dates), tuple(self.updated),
                tuple(tuple(alternatives) for alternatives in self.codes), frozenset(self.ids),
                tuple((path, tuple(wanted)) for path, wanted in self.tokens),
                tuple(self.more_dates), self.zone)

    def is_empty(self) -> bool:
        """Whether every resource passes."""
        return not (self.dates or self.updated or self.codes or self.ids or self.tokens
                    or self.more_dates)

    def keeps_tokens(self, resource: dict[str, Any]) -> bool:
        """Whether a resource (or the part of one that holds its token fields) passes the
        token parameters: each parameter by one of its comma-separated values."""
        return all(any(_has_token(resource.get(path), system, code) for system, code in wanted)
                   for path, wanted in self.tokens)

    def keeps(self, resource_id: str, at: datetime | None, updated: datetime | None,
              codings: Sequence[tuple[str, str]]) -> bool:
        """Whether a resource with this id, date, last update and codings passes."""
        if self.ids and resource_id not in self.ids:
            return False
        if not _within(at, self.dates) or not _within(updated, self.updated):
            return False
        return self.keeps_codes(codings)

    def keeps_codes(self, codings: Sequence[tuple[str, str]]) -> bool:
        """Whether a resource with these codings passes the `code` conditions."""
        return all(any(code == wanted and (system is None or system == coded_system)
                       for system, wanted in alternatives for coded_system, code in codings)
                   for alternatives in self.codes)

    def sql(self, moment: Any, updated: Any) -> list[Any]:
        """The date and `_lastUpdated` conditions as SQL on a row's time and update columns."""
        return ([_range_sql(moment, r) for r in self.dates]
                + [_range_sql(updated, r) for r in self.updated])

    def keeps_resource(self, resource: dict[str, Any]) -> bool:
        """Whether a built resource passes."""
        _, date_path = DATE_PARAMS.get(self.resource_type, ("birthdate", "birthDate"))
        concept = resource.get(CODE_FIELDS.get(self.resource_type, "")) or {}
        codings = [(c.get("system"), c.get("code")) for c in concept.get("coding", [])]
        updated = moment_of(resource["meta"]["lastUpdated"]) if "meta" in resource else None
        return (self.keeps_tokens(resource)
                and all(_within(moment_of(_field(resource, path), self.zone), [date_range])
                        for path, date_range in self.more_dates)
                and self.keeps(resource["id"], moment_of(_field(resource, date_path), self.zone),
                               updated, codings))


def _token(raw: str) -> tuple[str | None, str]:
    return parse_token(raw.strip())


def _has_token(value: Any, system: str | None, code: str) -> bool:
    """Whether a field (a code, a URL, a CodeableConcept or a list of them) carries the token."""
    if isinstance(value, list):
        return any(_has_token(v, system, code) for v in value)
    if isinstance(value, dict):
        return any(c.get("code") == code and (system is None or c.get("system") == system)
                   for c in value.get("coding", []))
    return value == code and system is None
