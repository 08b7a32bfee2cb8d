"""Observation search without building every Observation: a patient's vital-sign rows (chart
and chair) are read as plain columns, filtered and counted as lightweight entries, and only the
page asked for is built into resources. The order and the matches are those of the full list
(`store.of_type`); the work per page is a scan of a few columns, not thousands of resources."""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.fhir import mapping
from ketaclinic.fhir import measures as measure_map
from ketaclinic.fhir.filters import Filters
from ketaclinic.measures import service as measures
from ketaclinic.patients.models import Patient, VitalSigns
from ketaclinic.treatments.models import SessionEvent, SessionReading, TreatmentSession

_PANEL = ((mapping.LOINC, "85354-9"),)
_SERIES_CODES = {suffix: ((mapping.LOINC, code),) + (((mapping.LOINC, "59408-5"),)
                                                      if suffix == "spo2" else ())
                 for _, suffix, code, _, _ in mapping.VITAL_SERIES}


@dataclass(slots=True)
class Entry:
    """One Observation as far as searching needs it; `build` makes the resource."""

    id: str
    codes: Sequence[tuple[str, str]]
    at: datetime
    updated: datetime | None
    build: Callable[[], dict[str, Any]] | None = None
    row: tuple[str, int] | None = None  # (source, pk) of a vital-signs row, built per page


def _vital_entries(source: str, rows: Sequence[Any]) -> Iterator[Entry]:
    series = [(field, suffix, _SERIES_CODES[suffix]) for field, suffix, *_ in mapping.VITAL_SERIES]
    for row in rows:
        base, at, updated, key = str(row.id), row.at, row.updated_at, (source, row.pk)
        if row.systolic_mmhg is not None or row.diastolic_mmhg is not None:
            yield Entry(f"{base}-bp", _PANEL, at, updated, None, key)
        for field, suffix, codes in series:
            if getattr(row, field, None) is not None:
                yield Entry(f"{base}-{suffix}", codes, at, updated, None, key)


def _columns(model: Any, moment: Any) -> list[Any]:
    fields = ["systolic_mmhg", "diastolic_mmhg", *[f for f, *_ in mapping.VITAL_SERIES]]
    return [model.pk, model.id, moment.label("at"), model.updated_at,
            *[getattr(model, f) for f in fields if hasattr(model, f)]]


def _resource_entry(resource: dict[str, Any]) -> Entry:
    meta = resource.get("meta")
    return Entry(resource["id"], [(c.get("system", ""), c.get("code", ""))
                                  for c in resource["code"].get("coding", [])],
                 datetime.fromisoformat(resource["effectiveDateTime"]),
                 datetime.fromisoformat(meta["lastUpdated"]) if meta else None,
                 build=lambda: resource)


def entries(db: Session, patient: Patient) -> Iterator[Entry]:
    """Every Observation of the patient, lightly, in the order of the full list."""
    pid = patient.id
    yield from _vital_entries("chart", db.execute(
        select(*_columns(VitalSigns, VitalSigns.measured_at))
        .where(VitalSigns.patient_pk == patient.pk).order_by(VitalSigns.measured_at)).all())
    yield from (_resource_entry(measure_map.observation(m, str(pid)))
                for m in measures.measures_of(db=db, patient_pk=patient.pk, include_errors=True))
    sessions = db.execute(select(TreatmentSession.pk, TreatmentSession.id)
                          .where(TreatmentSession.patient_pk == patient.pk)
                          .order_by(TreatmentSession.checked_in_at)).all()
    if not sessions:
        return
    pks = [pk for pk, _ in sessions]
    readings: dict[int, list[Any]] = {pk: [] for pk in pks}
    for row in db.execute(select(SessionReading.session_pk,
                                 *_columns(SessionReading, SessionReading.taken_at))
                          .where(SessionReading.session_pk.in_(pks))
                          .order_by(SessionReading.taken_at)).all():
        readings[row.session_pk].append(row)
    events: dict[int, list[SessionEvent]] = {pk: [] for pk in pks}
    for event in db.execute(select(SessionEvent).where(
            SessionEvent.session_pk.in_(pks), SessionEvent.kind.in_(tuple(mapping.SCALE_CODES)))
            .order_by(SessionEvent.at)).scalars():
        events[event.session_pk].append(event)
    for pk, session_id in sessions:
        yield from _vital_entries("chair", readings[pk])
        yield from (_resource_entry(mapping.scale_observation(event, pid, session_id))
                    for event in events[pk])


def search(db: Session, patient: Patient, filters: Filters, offset: int, count: int
           ) -> tuple[list[dict[str, Any]], int]:
    """One page of the patient's Observations that pass the filters, and how many pass."""
    page: list[Entry] = []
    total = 0
    for entry in entries(db, patient):
        if filters.is_empty() or filters.keeps(entry.id, entry.at, entry.updated, entry.codes):
            if offset <= total < offset + count:
                page.append(entry)
            total += 1
    built = _built_rows(db, patient, [e.row for e in page if e.row is not None])
    return [built[e.id] if e.build is None else e.build() for e in page], total


def _built_rows(db: Session, patient: Patient, rows: list[tuple[str, int]]
                ) -> dict[str, dict[str, Any]]:
    built: dict[str, dict[str, Any]] = {}
    chart = sorted({pk for source, pk in rows if source == "chart"})
    chair = sorted({pk for source, pk in rows if source == "chair"})
    if chart:
        for vitals in db.execute(select(VitalSigns).where(VitalSigns.pk.in_(chart))).scalars():
            built.update((r["id"], r) for r in mapping.vital_observations(vitals, patient.id))
    if chair:
        for reading, session_id in db.execute(
                select(SessionReading, TreatmentSession.id)
                .join(TreatmentSession, SessionReading.session_pk == TreatmentSession.pk)
                .where(SessionReading.pk.in_(chair))).all():
            built.update((r["id"], r) for r in mapping.session_reading_observations(
                reading, patient.id, session_id))
    return built
