"""Encounter search that answers a page from the database: a patient's treatment sessions
filtered (date, `_lastUpdated`, status, `_id`), counted and paged in SQL, and only the page's
sessions read and built, however many sessions the patient has had."""

import uuid
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from ketaclinic.fhir import mapping
from ketaclinic.fhir.filters import Filters
from ketaclinic.patients.models import Patient
from ketaclinic.patients.service import PatientKeys
from ketaclinic.treatments.models import DISCHARGED, TreatmentSession

Resource = dict[str, Any]
# Encounter.status from a session's (`mapping.encounter`): finished once discharged.
_STATUS = {"finished": TreatmentSession.status == DISCHARGED,
           "in-progress": TreatmentSession.status != DISCHARGED}


def search(db: Session, patient: Patient | PatientKeys, filters: Filters, offset: int, count: int
           ) -> tuple[list[Resource], int]:
    """One page of the patient's Encounters that pass the filters, in check-in order, and how
    many pass."""
    session = TreatmentSession
    conditions = [session.patient_pk == patient.pk,
                  *filters.sql(session.checked_in_at, session.updated_at),
                  *[or_(*[_STATUS.get(code, false()) if system is None else false()
                          for system, code in wanted]) for _, wanted in filters.tokens]]
    if filters.ids:
        conditions.append(session.id.in_(_uuids(filters.ids)))
    total = db.execute(select(func.count()).select_from(session).where(*conditions)).scalar_one()
    if not count or offset >= total:
        return [], total
    rows = db.execute(select(session).where(*conditions)
                      .order_by(session.checked_in_at, session.pk)
                      .offset(offset).limit(count)).scalars()
    return [mapping.encounter(row, patient.id) for row in rows], total


def _uuids(ids: set[str]) -> list[uuid.UUID]:
    """The ids that name a session as its Encounter's id is written (any other names none)."""
    found = []
    for value in ids:
        try:
            key = uuid.UUID(value)
        except ValueError:
            continue
        if str(key) == value:
            found.append(key)
    return found
