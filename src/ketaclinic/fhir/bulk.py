"""FHIR Bulk Data export: NDJSON per resource type for a set of patients, run in the background."""

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.db import session_factory
from ketaclinic.errors import NotFound, invalid, public_id
from ketaclinic.fhir import filters, mapping, store
from ketaclinic.fhir.export_models import ExportFile, ExportJob
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient, PatientMrn

EXPORT_TYPES = ("Patient", *store.COMPARTMENT_TYPES)
NDJSON = "application/fhir+ndjson"


def parse_types(raw: str) -> list[str]:
    """`_type` as a list of supported types (all when empty)."""
    if not raw:
        return list(EXPORT_TYPES)
    wanted = [t.strip() for t in raw.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in EXPORT_TYPES]
    if unknown:
        raise invalid("_type", f"{', '.join(unknown)} cannot be exported here",
                      ", ".join(EXPORT_TYPES))
    return wanted


def patients_in_reach(db: Session, actor: Actor, site_pks: Iterable[int] | None = None) -> list[int]:
    """The patients an export by this actor covers (a patient: only themself)."""
    if actor.confined_to is not None:
        return [actor.confined_to]
    if actor.is_patient:
        return []
    sites = set(actor.site_pks) if site_pks is None else set(site_pks) & set(actor.site_pks)
    return sorted(set(db.execute(select(PatientMrn.patient_pk).where(
        PatientMrn.site_pk.in_(sites))).scalars()))


def ndjson_by_type(db: Session, patient_pks: list[int], types: list[str],
                   since: datetime | None) -> dict[str, list[str]]:
    """Every resource of the patients, one JSON line each, by type (`since`: updated after)."""
    lines: dict[str, list[str]] = {t: [] for t in types}
    for pk in patient_pks:
        patient = db.execute(select(Patient).where(Patient.pk == pk)).scalar_one()
        found = store.compartment(db, patient)
        found["Patient"] = [mapping.patient(patient)]
        for resource_type in types:
            for resource in found[resource_type]:
                if since is not None and filters.moment_of(resource["meta"]["lastUpdated"]) < since:
                    continue
                lines[resource_type].append(json.dumps(resource, separators=(",", ":")))
    return lines


def kick_off(*, db: Session, actor: Actor, request_url: str, types: list[str],
             since: datetime | None, patient_pks: list[int]) -> ExportJob:
    """Record an export job (the caller starts `run` in the background after committing)."""
    job = ExportJob(requested_by=actor.username, request_url=request_url[:2000],
                    patient_pks=patient_pks, types=types, since=since, status="accepted",
                    transaction_time=clock.now(), created_by=actor.username)
    db.add(job)
    db.flush()
    audit.record(db=db, actor=actor, action="export", record_type="ExportJob", record_id=job.id,
                 detail=f"{len(patient_pks)} patients, types {', '.join(types)}, since {since}")
    return job


def run(job_id: str) -> None:
    """Write the job's files; marks it complete (or error with the reason)."""
    with session_factory()() as db:
        job = db.execute(select(ExportJob).where(ExportJob.id == public_id(job_id, "export"))).scalar_one()
        job.status = "in-progress"
        db.commit()
        try:
            lines = ndjson_by_type(db, list(job.patient_pks), list(job.types), job.since)
            for resource_type, rows in lines.items():
                if rows:
                    db.add(ExportFile(job_pk=job.pk, resource_type=resource_type, count=len(rows),
                                      content="\n".join(rows) + "\n", created_by=job.requested_by))
            job.status, job.finished_at = "complete", clock.now()
            db.commit()
        except Exception as exc:  # the job must end in a state the client can see
            db.rollback()
            job = db.execute(select(ExportJob).where(
                ExportJob.id == public_id(job_id, "export"))).scalar_one()
            job.status, job.error, job.finished_at = "error", str(exc)[:1000], clock.now()
            db.commit()


def job_of(db: Session, job_id: str, actor: Actor) -> ExportJob:
    """A job the actor requested (NotFound for anyone else's)."""
    job = db.execute(select(ExportJob).where(
        ExportJob.id == public_id(job_id, "export"))).scalar_one_or_none()
    if job is None or job.requested_by != actor.username:
        raise NotFound("no such export")
    return job


def manifest(db: Session, job: ExportJob, base_url: str) -> dict[str, Any]:
    """The completion manifest: one output entry per file, with its URL and count."""
    files = db.execute(select(ExportFile.id, ExportFile.resource_type, ExportFile.count)
                       .where(ExportFile.job_pk == job.pk).order_by(ExportFile.resource_type)).all()
    return {"transactionTime": job.transaction_time.isoformat(), "request": job.request_url,
            "requiresAccessToken": True,
            "output": [{"type": t, "url": f"{base_url}/fhir/$export-file/{job.id}/{file_id}",
                        "count": count} for file_id, t, count in files],
            "error": []}


def file_of(db: Session, job: ExportJob, file_id: str) -> ExportFile:
    """One file of a job."""
    found = db.execute(select(ExportFile).where(
        ExportFile.job_pk == job.pk, ExportFile.id == public_id(file_id, "export file"))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("no such export file")
    return found
