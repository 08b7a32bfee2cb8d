"""Bulk Data export endpoints: kick-off (system, Patient, Group = a site), status, files."""

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from ketaclinic.clinics import service as clinics
from ketaclinic.errors import NotFound, invalid
from ketaclinic.fhir import bulk
from ketaclinic.fhir.search import parse_date
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.web.deps import DB, require
from ketaclinic.web.fast_json import FastJSONResponse
from ketaclinic.web.one_thread import OneTripRoute

router = APIRouter(route_class=OneTripRoute, prefix="/fhir", tags=["FHIR Bulk Data"])


def _kick_off(request: Request, background: BackgroundTasks, db: Session, actor: Actor,
              site_pks: list[int] | None) -> Response:
    if "respond-async" not in request.headers.get("prefer", ""):
        raise invalid("Prefer", "a bulk export runs in the background", "Prefer: respond-async")
    output = request.query_params.get("_outputFormat", bulk.NDJSON)
    if output not in (bulk.NDJSON, "application/ndjson", "ndjson"):
        raise invalid("_outputFormat", f"{output!r} is not offered", bulk.NDJSON)
    types = bulk.parse_types(request.query_params.get("_type", ""))
    raw_since = request.query_params.get("_since", "")
    since = parse_date("_since", raw_since).start if raw_since else None
    job = bulk.kick_off(db=db, actor=actor, request_url=str(request.url), types=types, since=since,
                        patient_pks=bulk.patients_in_reach(db, actor, site_pks))
    background.add_task(bulk.run, str(job.id))
    base = str(request.base_url).rstrip("/")
    return Response(status_code=202, headers={
        "Content-Location": f"{base}/fhir/$export-status/{job.id}"})


@router.get("/$export")
def system_export(request: Request, background: BackgroundTasks,
                  actor: Actor = Depends(require(Permission.CLINICAL_READ)),
                  db: Session = DB) -> Response:
    """Everything the caller may read, as NDJSON files per type."""
    return _kick_off(request, background, db, actor, None)


@router.get("/Patient/$export")
def patient_export(request: Request, background: BackgroundTasks,
                   actor: Actor = Depends(require(Permission.CLINICAL_READ)),
                   db: Session = DB) -> Response:
    """Every patient the caller may read, with their compartments."""
    return _kick_off(request, background, db, actor, None)


@router.get("/Group/{group_id}/$export")
def group_export(request: Request, group_id: str, background: BackgroundTasks,
                 actor: Actor = Depends(require(Permission.CLINICAL_READ)),
                 db: Session = DB) -> Response:
    """The patients of one site (a Group is a site, by its code)."""
    site = clinics.site_by_exact_code(db, group_id)
    if site is None or (site.pk not in actor.site_pks and not actor.is_patient):
        raise NotFound(f"Group/{group_id} is not known (a Group is a site code)")
    return _kick_off(request, background, db, actor, [site.pk])


@router.get("/$export-status/{job_id}")
def export_status(request: Request, job_id: str,
                  actor: Actor = Depends(require(Permission.CLINICAL_READ)),
                  db: Session = DB) -> Response:
    """202 with progress while running; 200 with the manifest when complete."""
    job = bulk.job_of(db, job_id, actor)
    if job.status in ("accepted", "in-progress"):
        return Response(status_code=202, headers={"X-Progress": job.status, "Retry-After": "2"})
    if job.status == "error":
        raise invalid("export", f"the export failed: {job.error}", "a new kick-off")
    body = bulk.manifest(db, job, str(request.base_url).rstrip("/"))
    return FastJSONResponse(body, media_type="application/json")


@router.get("/$export-file/{job_id}/{file_id}")
def export_file(job_id: str, file_id: str,
                actor: Actor = Depends(require(Permission.CLINICAL_READ)),
                db: Session = DB) -> Response:
    """One NDJSON file of a completed export."""
    found = bulk.file_of(db, bulk.job_of(db, job_id, actor), file_id)
    return Response(found.content, media_type=bulk.NDJSON)

