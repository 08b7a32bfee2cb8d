"""JSON API for treatment sessions: check-in and batches of vital signs."""

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ketaclinic.auth.actor import Actor
from ketaclinic.auth.permissions import Permission
from ketaclinic.treatments import schemas
from ketaclinic.treatments import service as treatments
from ketaclinic.web.deps import get_db, require

router = APIRouter(prefix="/api/v1", tags=["treatment sessions"])


class SessionOut(BaseModel):
    """An opened session."""

    id: str
    route: str
    status: str


@router.post("/patients/{patient_id}/treatment-sessions", response_model=SessionOut,
             status_code=201)
def check_in(
    patient_id: str,
    data: schemas.SessionIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = Depends(get_db),
) -> SessionOut:
    """Open a session at a chair for a course signed to start."""
    session = treatments.open_session(db=db, patient_id=patient_id, data=data, actor=actor)
    db.commit()
    return SessionOut(id=str(session.id), route=session.route, status=session.status)


@router.post("/treatment-sessions/{session_id}/vitals", response_model=schemas.ReadingsOut,
             status_code=201)
def add_vitals(
    session_id: str,
    data: schemas.ReadingsIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = Depends(get_db),
) -> schemas.ReadingsOut:
    """Store a batch of readings (all or nothing) and return the alarms they raised."""
    stored, raised = treatments.add_readings(db=db, session_id=session_id, data=data, actor=actor)
    db.commit()
    return schemas.ReadingsOut(stored=stored,
                               alarms=[schemas.AlarmOut.model_validate(a) for a in raised])


@router.get("/treatment-sessions/{session_id}", response_model=schemas.SessionStatusOut)
def read_session(
    session_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = Depends(get_db),
) -> schemas.SessionStatusOut:
    """The session's readings, alarms, next reading due, pre-dose check and discharge gaps."""
    session = treatments.get_session(db=db, session_id=session_id, actor=actor)
    state = treatments.status_of(db=db, session=session)
    db.commit()
    return schemas.SessionStatusOut(
        id=session.id, route=session.route, status=session.status,
        checked_in_at=session.checked_in_at, dose_start=session.dose_start,
        dose_end=session.dose_end,
        readings=[schemas.ReadingOut(**vars(r)) for r in state["readings"]],
        alarms=[schemas.AlarmStateOut.model_validate(a) for a in state["alarms"]],
        next_reading_due=schemas.DueOut(**vars(state["next_reading_due"]))
        if state["next_reading_due"] else None,
        pre_dose_problem=state["pre_dose_problem"],
        discharge_missing=[schemas.MissingOut(**vars(m)) for m in state["discharge_missing"]])


@router.post("/treatment-sessions/{session_id}/alarms/{alarm_id}/acknowledge",
             response_model=schemas.AlarmStateOut)
def acknowledge(
    session_id: str,
    alarm_id: str,
    data: schemas.AcknowledgeIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = Depends(get_db),
) -> schemas.AlarmStateOut:
    """Acknowledge an alarm with what was done."""
    alarm = treatments.acknowledge_alarm(db=db, session_id=session_id, alarm_id=alarm_id,
                                         note=data.note, actor=actor)
    db.commit()
    return schemas.AlarmStateOut.model_validate(alarm)
