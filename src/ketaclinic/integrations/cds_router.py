"""CDS Hooks 2.0 endpoints: discovery and the ketamine-screening service."""

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth import client_jwt, clients
from ketaclinic.clinics import service as clinics
from ketaclinic.integrations import cds_hooks
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.settings import get_settings
from ketaclinic.web.deps import BODY, DB, bearer_token, client_of, require
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.problems import problem
from ketaclinic.worker_threads import in_thread

router = APIRouter(route_class=OneTripRoute, prefix="/cds-services", tags=["cds-hooks"])


def _client_actor(db: Session, raw: str, audience: str, address: str) -> Actor:
    verified = client_jwt.verify(db, raw, audience=audience, kinds={clients.CDS_CLIENT},
                                 now=clock.now())
    return clients.actor_of(verified.client, address, verified.client.site.time_zone)


async def cds_caller(request: Request, db: Session = DB) -> Actor:
    """Who calls a CDS service: an EHR by the JWT it signed (CDS Hooks 2.0: a registered CDS
    client's key, `aud` this service's URL under the public address, used once), or one of
    ketaclinic's own users by their bearer token and role."""
    raw = bearer_token(request)
    if not client_jwt.looks_like_jwt(raw):
        return await require(Permission.CDS_INVOKE)(request, db)
    audience = get_settings().public_url.rstrip("/") + request.url.path
    actor = await in_thread(_client_actor, db, raw, audience, client_of(request))
    request.state.actor = actor
    return actor


cds_caller.required_permission = Permission.CDS_INVOKE  # type: ignore[attr-defined]


@router.get("")
def discovery() -> JSONResponse:
    """The CDS Hooks discovery document."""
    return JSONResponse(cds_hooks.discovery())


@router.post("/{service_id}")
def invoke(
    service_id: str,
    request: Request,
    actor: Actor = Depends(cds_caller),
    db: Session = DB,
    body: bytes = BODY,
) -> Response:
    """Answer an order-select or patient-view request with cards, from prefetch alone."""
    if service_id not in (cds_hooks.SERVICE_ID, cds_hooks.PATIENT_VIEW_ID):
        return problem(404, "Not found", f"no CDS service {service_id!r}")
    try:
        hook_request = cds_hooks.CdsRequest.model_validate(json.loads(body))
        if service_id == cds_hooks.PATIENT_VIEW_ID and hook_request.hook != "patient-view":
            raise cds_hooks.CdsError(400, "this service answers the patient-view hook")
        zone = clinics.home_zone(db=db, actor=actor)
        cards, results = cds_hooks.evaluate(hook_request, on=clock.today(zone), time_zone=zone)
    except (ValueError, ValidationError) as exc:
        status = exc.status if isinstance(exc, cds_hooks.CdsError) else 400
        detail = str(exc).splitlines()[0] if str(exc) else "malformed request"
        return problem(status, "Bad CDS Hooks request" if status == 400 else "Prefetch missing",
                       detail)
    patient_id = str(hook_request.context.get("patientId", ""))[:64] or None
    decisions = ", ".join(f"{r.route}={r.decision}" for r in results) or "no ketamine order"
    audit.record(db=db, actor=actor, action="cds-screen", record_type="CdsHooks",
                 record_id=hook_request.hookInstance[:64], patient_id=patient_id,
                 detail=f"{hook_request.hook}: {decisions} (external patient id)")
    return JSONResponse(cards)
