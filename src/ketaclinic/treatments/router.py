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
