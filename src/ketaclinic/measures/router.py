"""JSON API for measures, questionnaire links and alert follow-up."""

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.measures import alerts, links, schemas, service
from ketaclinic.patients.schemas import EnteredInErrorIn
from ketaclinic.web.deps import API_PREFIX, DB, require
from ketaclinic.web.one_thread import OneTripRoute

router = APIRouter(route_class=OneTripRoute, prefix=API_PREFIX, tags=["measures"])


@router.post("/patients/{patient_id}/measures", response_model=schemas.MeasureOut, status_code=201)
def add_measure(
    patient_id: str,
    data: schemas.MeasureIn,
    actor: Actor = Depends(require(Permission.MEASURES_WRITE)),
    db: Session = DB,
) -> schemas.MeasureOut:
    """Score and store a completed form; returns the total, band and any alerts raised."""
    measure, raised = service.add_measure(db=db, patient_id=patient_id, data=data, actor=actor)
    return schemas.measure_out(measure, service.answers_of(db, [measure.pk])[measure.pk], raised)


@router.get("/patients/{patient_id}/measures", response_model=list[schemas.MeasureOut])
def list_measures(
    patient_id: str,
    instrument: str | None = None,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> list[schemas.MeasureOut]:
    """A patient's measures, oldest first, optionally of one instrument."""
    return service.list_measures(db=db, patient_id=patient_id, actor=actor, instrument=instrument)


@router.post("/patients/{patient_id}/measures/{measure_id}/entered-in-error",
             response_model=schemas.MeasureOut)
def mark_measure_error(
    patient_id: str,
    measure_id: str,
    data: EnteredInErrorIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> schemas.MeasureOut:
    """Mark a measure entered-in-error with the reason: it leaves trajectories and outcomes;
    the row, who corrected it, when and why stay."""
    measure = service.mark_entered_in_error(db=db, patient_id=patient_id, measure_id=measure_id,
                                            reason=data.reason, actor=actor)
    return schemas.measure_out(measure, service.answers_of(db, [measure.pk])[measure.pk],
                               service.alerts_by_measure(db, [measure.pk]).get(measure.pk, []))


@router.post("/patients/{patient_id}/measure-links", response_model=schemas.LinkOut,
             status_code=201)
def send_link(
    patient_id: str,
    data: schemas.LinkIn,
    actor: Actor = Depends(require(Permission.LINKS_SEND)),
    db: Session = DB,
) -> schemas.LinkOut:
    """Create a personal questionnaire link and email it; the URL is returned once."""
    request, url = links.create(db=db, patient_id=patient_id, data=data, actor=actor)
    return schemas.LinkOut(id=request.id, url=url, instruments=request.instruments,
                           expires_at=request.expires_at, sent_to=request.sent_to,
                           send_error=request.send_error)


@router.get("/alerts", response_model=list[schemas.AlertOut])
def open_alerts(
    actor: Actor = Depends(require(Permission.ALERTS_FOLLOW_UP)),
    db: Session = DB,
) -> list[schemas.AlertOut]:
    """Open alerts at the caller's sites, most severe first."""
    return [schemas.alert_out(a) for a, _ in alerts.open_alerts(db=db, site_pks=actor.site_pks)]


@router.post("/alerts/{alert_id}/follow-up", response_model=schemas.AlertOut)
def follow_up(
    request: Request,
    alert_id: str,
    data: schemas.FollowUpIn,
    actor: Actor = Depends(require(Permission.ALERTS_FOLLOW_UP)),
    db: Session = DB,
) -> schemas.AlertOut:
    """Record what was done about an alert; it closes."""
    alert = alerts.close(db=db, alert_id=alert_id, data=data, actor=actor)
    return schemas.alert_out(alert)
