"""Searches for the resources a patient has one of per treatment session (Encounter, and
MedicationAdministration for a session whose dose was given), answered from the database: the
sessions filtered (date, `_lastUpdated`, status, `_id`), counted and paged in SQL, and only the
page's sessions read and built, however many sessions the patient has had."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, cast, false, func, or_, select, true
from sqlalchemy.orm import Session

from ketaclinic.fhir import mapping
from ketaclinic.fhir.filters import Filters
from ketaclinic.patients.models import Patient
from ketaclinic.patients.service import PatientKeys
from ketaclinic.treatments.models import DISCHARGED, TreatmentSession

Resource = dict[str, Any]
_session = TreatmentSession


@dataclass(frozen=True)
class _Kind:
    """How one resource type stands for a session: which sessions are one, the column its date
    parameter searches, its statuses as conditions, and the builder."""

    present: Any
    moment: Any
    statuses: dict[str, Any]
    build: Callable[[TreatmentSession, uuid.UUID], Resource | None]


# A dose is charted with its start and what was given together (`record_dose`); an unset
# `dose_given` may be stored as SQL NULL or as JSON null.
_DOSED = and_(_session.dose_start.is_not(None), _session.dose_given.is_not(None),
              cast(_session.dose_given, String) != "null")
_ENDED = or_(_session.dose_end.is_not(None), _session.status == DISCHARGED)
KINDS = {
    # Encounter.status as `mapping.encounter` gives it: finished once discharged.
    "Encounter": _Kind(true(), _session.checked_in_at,
                       {"finished": _session.status == DISCHARGED,
                        "in-progress": _session.status != DISCHARGED}, mapping.encounter),
    # MedicationAdministration.status as `mapping.medication_administration` gives it.
    "MedicationAdministration": _Kind(_DOSED, _session.dose_start,
                                      {"completed": _ENDED, "in-progress": ~_ENDED},
                                      mapping.medication_administration),
}


def search(db: Session, resource_type: str, patient: Patient | PatientKeys, filters: Filters,
           offset: int, count: int) -> tuple[list[Resource], int]:
    """One page of the patient's resources of the type that pass the filters, in check-in
    order, and how many pass."""
    kind = KINDS[resource_type]
    conditions = [_session.patient_pk == patient.pk, kind.present,
                  *filters.sql(kind.moment, _session.updated_at),
                  *[or_(*[kind.statuses.get(code, false()) if system is None else false()
                          for system, code in wanted]) for _, wanted in filters.tokens]]
    if filters.ids:
        conditions.append(_session.id.in_(_uuids(filters.ids)))
    total = db.execute(select(func.count()).select_from(_session).where(*conditions)).scalar_one()
    if not count or offset >= total:
        return [], total
    rows = db.execute(select(_session).where(*conditions)
                      .order_by(_session.checked_in_at, _session.pk)
                      .offset(offset).limit(count)).scalars()
    return [resource for row in rows if (resource := kind.build(row, patient.id))], total


def _uuids(ids: set[str]) -> list[uuid.UUID]:
    """The ids that name a session as its resources' ids are written (any other names none)."""
    found = []
    for value in ids:
        try:
            key = uuid.UUID(value)
        except ValueError:
            continue
        if str(key) == value:
            found.append(key)
    return found
