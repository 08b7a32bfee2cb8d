"""The search filters every compartment type shares (its date, `_lastUpdated`, `code`, `_id`),
parsed once and applied to a resource or to the few fields of one not yet built."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ketaclinic.errors import invalid
from ketaclinic.fhir.search import DateRange, parse_date, parse_token

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


def moment_of(value: Any) -> Any:
    """A FHIR date or date-time as an aware datetime (a date: its midnight UTC)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value) if "T" in value else datetime.fromisoformat(
        value + "T00:00:00+00:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _field(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _within(moment: Any, ranges: list[DateRange]) -> bool:
    if not ranges:
        return True
    return moment is not None and all(r.matches(moment) for r in ranges)


@dataclass(frozen=True)
class Filters:
    """A search's date, `_lastUpdated`, `code` and `_id` conditions for one resource type."""

    resource_type: str
    dates: list[DateRange]
    updated: list[DateRange]
    codes: list[list[tuple[str | None, str]]]
    ids: set[str]

    @classmethod
    def parse(cls, resource_type: str, params: dict[str, list[str]]) -> "Filters":
        """The filters a search's parameters ask for (an InvalidInput naming a bad one)."""
        date_name, _ = DATE_PARAMS.get(resource_type, ("birthdate", "birthDate"))
        codes = [[parse_token(t) for t in v.split(",")] for v in params.get("code", [])]
        if codes and resource_type not in CODE_FIELDS:
            raise invalid("code", f"not a search parameter of {resource_type}",
                          ", ".join(CODE_FIELDS))
        return cls(resource_type,
                   dates=[parse_date(date_name, v) for v in params.get(date_name, [])],
                   updated=[parse_date("_lastUpdated", v) for v in params.get("_lastUpdated", [])],
                   codes=codes, ids={i for v in params.get("_id", []) for i in v.split(",")})

    def is_empty(self) -> bool:
        """Whether every resource passes."""
        return not (self.dates or self.updated or self.codes or self.ids)

    def keeps(self, resource_id: str, at: datetime | None, updated: datetime | None,
              codings: Sequence[tuple[str, str]]) -> bool:
        """Whether a resource with this id, date, last update and codings passes."""
        if self.ids and resource_id not in self.ids:
            return False
        if not _within(at, self.dates) or not _within(updated, self.updated):
            return False
        return all(any(code == wanted and (system is None or system == coded_system)
                       for system, wanted in alternatives for coded_system, code in codings)
                   for alternatives in self.codes)

    def keeps_resource(self, resource: dict[str, Any]) -> bool:
        """Whether a built resource passes."""
        _, date_path = DATE_PARAMS.get(self.resource_type, ("birthdate", "birthDate"))
        concept = resource.get(CODE_FIELDS.get(self.resource_type, "")) or {}
        codings = [(c.get("system"), c.get("code")) for c in concept.get("coding", [])]
        updated = moment_of(resource["meta"]["lastUpdated"]) if "meta" in resource else None
        return self.keeps(resource["id"], moment_of(_field(resource, date_path)), updated,
                          codings)
