"""JSON API for treatment sessions: check-in and batches of vital signs."""

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ketaclinic.clinics import service as clinics
from ketaclinic.flows import checkin, dose
from ketaclinic.flows import discharge as closing
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.treatments import rems, schemas
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import TreatmentSession
from ketaclinic.treatments.rems_pdf import render_pdf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.one_thread import OneTripRoute

router = APIRouter(route_class=OneTripRoute, prefix="/api/v1", tags=["treatment sessions"])


class SessionOut(BaseModel):
    """An opened session."""

    id: str
    route: str
    status: str


def _out(treatment_session: TreatmentSession) -> SessionOut:
    return SessionOut(id=str(treatment_session.id), route=treatment_session.route,
                      status=treatment_session.status)


@router.post("/patients/{patient_id}/treatment-sessions", response_model=SessionOut,
             status_code=201)
def check_in(
    patient_id: str,
    data: schemas.SessionIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> SessionOut:
    """Open a session at a chair for a course signed to start."""
    treatment_session = treatments.open_treatment_session(db=db, patient_id=patient_id, data=data,
                                                          actor=actor)
    return _out(treatment_session)


@router.post("/treatment-sessions/{treatment_session_id}/vitals", response_model=schemas.ReadingsOut,
             status_code=201)
def add_vitals(
    treatment_session_id: str,
    data: schemas.ReadingsIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> schemas.ReadingsOut:
    """Store a batch of readings (all or nothing) and return the alarms they raised."""
    stored, raised = treatments.add_readings(db=db, treatment_session_id=treatment_session_id, data=data,
                                             actor=actor)
    return schemas.ReadingsOut(stored=stored,
                               alarms=[schemas.AlarmOut.model_validate(a) for a in raised])


# The most readings a session's JSON lists when asked for the newest (a monitor's session at one
# a second has 2,400 after 40 minutes).
READINGS_MAX = 5000


@router.get("/treatment-sessions/{treatment_session_id}", response_model=schemas.SessionStatusOut)
def read_session(
    treatment_session_id: str,
    readings_limit: int | None = Query(
        default=None, ge=1, le=READINGS_MAX,
        description="the newest readings only, this many (all of them when not given)"),
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> schemas.SessionStatusOut:
    """The session's readings (all, or the newest `readings_limit`, with how many there are),
    alarms, next reading due, pre-dose check and discharge gaps."""
    treatment_session = treatments.get_treatment_session(db=db, treatment_session_id=treatment_session_id,
                                                         actor=actor)
    state = treatments.status_of(db=db, treatment_session=treatment_session,
                                 newest=readings_limit)
    readings = state["readings"][-readings_limit:] if readings_limit else state["readings"]
    return schemas.SessionStatusOut(
        id=treatment_session.id, route=treatment_session.route, status=treatment_session.status,
        checked_in_at=treatment_session.checked_in_at, dose_start=treatment_session.dose_start,
        dose_end=treatment_session.dose_end,
        reading_count=len(readings) if readings_limit is None
        else state["reading_count"],
        readings=[schemas.ReadingOut(**vars(r)) for r in readings],
        alarms=[schemas.AlarmStateOut.model_validate(a) for a in state["alarms"]],
        next_reading_due=schemas.DueOut(**vars(state["next_reading_due"]))
        if state["next_reading_due"] else None,
        pre_dose_problem=state["pre_dose_problem"],
        pre_dose_overridden=state["pre_dose_overridden"],
        discharge_missing=[schemas.MissingOut(**vars(m)) for m in state["discharge_missing"]])


@router.post("/treatment-sessions/{treatment_session_id}/alarms/{alarm_id}/acknowledge",
             response_model=schemas.AlarmStateOut)
def acknowledge(
    treatment_session_id: str,
    alarm_id: str,
    data: schemas.AcknowledgeIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> schemas.AlarmStateOut:
    """Acknowledge an alarm with what was done."""
    alarm = treatments.acknowledge_alarm(db=db, treatment_session_id=treatment_session_id, alarm_id=alarm_id,
                                         note=data.note, actor=actor)
    return schemas.AlarmStateOut.model_validate(alarm)


@router.post("/treatment-sessions/{treatment_session_id}/checks", response_model=dict[str, dict])
def check_in_checks(
    treatment_session_id: str,
    data: schemas.ChecksIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> dict[str, dict]:
    """Record confirmations and work out the automatic checks; returns every check's result."""
    return checkin.check_in(db=db, treatment_session_id=treatment_session_id,
                            confirmations=data.confirmations,
                            actor=actor)


@router.post("/treatment-sessions/{treatment_session_id}/checks/override", response_model=SessionOut)
def override_checks(
    treatment_session_id: str,
    data: schemas.ReasonIn,
    actor: Actor = Depends(require(Permission.CLINICAL_SIGN)),
    db: Session = DB,
) -> SessionOut:
    """A prescriber lets dosing go ahead despite failed checks (reason recorded)."""
    treatment_session = treatments.override_checks(db=db, treatment_session_id=treatment_session_id,
                                                   reason=data.reason,
                                         actor=actor)
    return _out(treatment_session)


@router.post("/treatment-sessions/{treatment_session_id}/pre-dose/override", response_model=SessionOut)
def override_pre_dose(
    treatment_session_id: str,
    data: schemas.ReasonIn,
    actor: Actor = Depends(require(Permission.CLINICAL_SIGN)),
    db: Session = DB,
) -> SessionOut:
    """A prescriber lets dosing go ahead despite the baseline BP (reason recorded)."""
    treatment_session = treatments.override_pre_dose(db=db, treatment_session_id=treatment_session_id,
                                                     reason=data.reason,
                                           actor=actor)
    return _out(treatment_session)


@router.post("/treatment-sessions/{treatment_session_id}/dose/start", response_model=SessionOut)
def dose_start(
    treatment_session_id: str,
    data: schemas.DoseStartIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> SessionOut:
    """Record the dose given (refused while check-in or the baseline BP blocks it)."""
    treatment_session = dose.give_dose(db=db, treatment_session_id=treatment_session_id, data=data,
                                       actor=actor)
    return _out(treatment_session)


@router.post("/treatment-sessions/{treatment_session_id}/dose/end", response_model=SessionOut)
def dose_end(
    treatment_session_id: str,
    data: schemas.DoseEndIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> SessionOut:
    """Record the end of dosing."""
    treatment_session = treatments.end_dose(db=db, treatment_session_id=treatment_session_id, data=data,
                                            actor=actor)
    return _out(treatment_session)


@router.post("/treatment-sessions/{treatment_session_id}/events", status_code=201)
def add_event(
    treatment_session_id: str,
    data: schemas.EventIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> dict[str, str]:
    """Record a MOAA/S or CADSS score, a side effect or an intervention."""
    event = treatments.add_event(db=db, treatment_session_id=treatment_session_id, data=data, actor=actor)
    return {"id": str(event.id), "kind": event.kind}


@router.post("/treatment-sessions/{treatment_session_id}/discharge", response_model=SessionOut)
def discharge(
    treatment_session_id: str,
    data: schemas.DischargeIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> SessionOut:
    """Discharge when every criterion is met; otherwise 422 listing what is missing (409 when
    the controlled-substance record does not add up: the discrepancy opened is kept)."""
    treatment_session = closing.discharge(db=db, treatment_session_id=treatment_session_id, data=data,
                                          actor=actor)
    return _out(treatment_session)


class DischargeOverrideIn(schemas.DischargeIn):
    """Discharge despite unmet criteria, with the prescriber's reason."""

    reason: str = Field(min_length=3, max_length=1000)


@router.post("/treatment-sessions/{treatment_session_id}/discharge/override", response_model=SessionOut)
def discharge_override(
    treatment_session_id: str,
    data: DischargeOverrideIn,
    actor: Actor = Depends(require(Permission.CLINICAL_SIGN)),
    db: Session = DB,
) -> SessionOut:
    """A prescriber discharges despite unmet criteria (reason recorded)."""
    treatment_session = closing.discharge(db=db, treatment_session_id=treatment_session_id, data=data,
                                          actor=actor,
                                   override_reason=data.reason)
    return _out(treatment_session)


@router.post("/treatment-sessions/{treatment_session_id}/addenda", status_code=201)
def add_addendum(
    treatment_session_id: str,
    data: schemas.AddendumIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> dict[str, str]:
    """Add a correction to a closed record."""
    addendum = treatments.add_addendum(db=db, treatment_session_id=treatment_session_id, text=data.text,
                                       actor=actor)
    return {"id": str(addendum.id)}


class RemsFileIn(BaseModel):
    """The nurse's answer the record cannot give."""

    ready_to_leave_min: int = Field(gt=0, le=rems.MAX_READY_MIN,
                                    description="minutes from the first device until the "
                                                "patient would have been ready to leave")


@router.get("/treatment-sessions/{treatment_session_id}/rems")
def rems_form(
    treatment_session_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> dict[str, object]:
    """The REMS monitoring form of an esketamine session, filled from the record."""
    form = rems.form_for(db=db, treatment_session_id=treatment_session_id, actor=actor)
    return form.as_dict()


@router.post("/treatment-sessions/{treatment_session_id}/rems", status_code=201)
def rems_file(
    treatment_session_id: str,
    data: RemsFileIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> dict[str, object]:
    """File the form after discharge with the minutes until the patient was ready to leave."""
    filing = rems.file_form(db=db, treatment_session_id=treatment_session_id,
                            ready_to_leave_min=data.ready_to_leave_min, actor=actor)
    return {"id": str(filing.id), "filed_at": filing.filed_at.isoformat(), "form": filing.form}


@router.get("/treatment-sessions/{treatment_session_id}/rems.pdf")
def rems_pdf(
    treatment_session_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> Response:
    """The form as a PDF (as filed, once filed)."""
    treatment_session = treatments.get_treatment_session(db=db, treatment_session_id=treatment_session_id,
                                                         actor=actor)
    filing = rems.filing_of(db, treatment_session)
    minutes = filing.form.get("minutes_until_ready_to_leave") if filing else None
    form = rems.form_for(db=db, treatment_session_id=treatment_session_id, actor=actor,
                         ready_to_leave_min=minutes)
    body = render_pdf(form, filed_by=filing.created_by if filing else "",
                      filed_at=filing.filed_at.isoformat() if filing else "")
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="rems-{treatment_session.id}.pdf"'})


@router.get("/sites/{site_code}/rems-due")
def rems_due(
    site_code: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> list[dict[str, object]]:
    """Esketamine sessions at one of your sites whose REMS form is not filed yet."""
    site = clinics.site_in_reach(db, site_code, actor)
    return [{"session_id": str(d["treatment_session"].id), "due_by": d["due_by"].isoformat(),
             "overdue": d["overdue"]} for d in rems.due_at_site(db=db, site_pk=site.pk)]


@router.post("/treatment-sessions/{treatment_session_id}/attach-unmatched",
             response_model=schemas.ReadingsOut)
def attach_unmatched(
    treatment_session_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> schemas.ReadingsOut:
    """Attach the monitor readings that arrived for this chair with no open session, taken since
    the chair's previous session was discharged and no earlier than the clinic's window before
    check-in (rule parameter `unmatched_readings_before_check_in_min`); older ones stay on the
    monitor message review."""
    attached, raised = treatments.attach_unmatched(db=db, treatment_session_id=treatment_session_id,
                                                   actor=actor)
    return schemas.ReadingsOut(stored=attached,
                               alarms=[schemas.AlarmOut.model_validate(a) for a in raised])
