"""The Spravato REMS monitoring form for esketamine sessions: filled, confirmed, filed, due."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.clinics.models import Site
from ketaclinic.errors import Conflict, invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.monitoring import pre_dose_problem
from ketaclinic.knowledge.rems import RemsForm, checkpoint_window, fill, form_due_within
from ketaclinic.knowledge.session_events import Noted
from ketaclinic.patients import service as patients
from ketaclinic.patients.record import screening_record
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import (
    DISCHARGED,
    RemsFiling,
    SessionEvent,
    TreatmentSession,
)

MAX_READY_MIN = 24 * 60


def form_for(*, db: Session, treatment_session_id: str, actor: Actor,
             ready_to_leave_min: int | None = None) -> RemsForm:
    """The monitoring form of an esketamine session as the record answers it."""
    treatment_session = treatments.get_treatment_session(db=db, treatment_session_id=treatment_session_id,
                                                         actor=actor)
    if treatment_session.route != "esketamine":
        raise Conflict("the REMS monitoring form is for esketamine sessions only")
    if treatment_session.dose_start is None or not treatment_session.dose_given:
        raise Conflict("no dose has been recorded in this session yet")
    patient = patients.chart(db=db, patient_id=str(treatments.patient_id_of(db, treatment_session)),
                             actor=actor)
    site = db.execute(select(Site).where(Site.pk == treatment_session.site_pk)).scalar_one()
    events = db.execute(select(SessionEvent).where(SessionEvent.session_pk == treatment_session.pk)
                        ).scalars().all()
    readings = treatments.readings_of(db=db, session_pk=treatment_session.pk)
    baseline = treatments.baseline_of(db, treatment_session)
    first_device = min([datetime.fromisoformat(t) for t in treatment_session.dose_given.device_times]
                       or [treatment_session.dose_start])
    ready = first_device + timedelta(minutes=ready_to_leave_min) if ready_to_leave_min else None
    cleanly = None if treatment_session.status != DISCHARGED else treatment_session.discharge_override is None
    clinic = treatments.clinic_limits(db)
    return fill(
        patient_name=patient.full_name, birth_date=patient.birth_date, sex=patient.sex,
        medications=list(screening_record(patient).medications),
        provider=treatment_session.ordered_by or treatment_session.created_by, site=site.name,
        session_day=clock.date_in(treatment_session.dose_start, site.time_zone),
        dose_mg=treatment_session.dose_given.dose_mg, lot_number=treatment_session.dose_given.lot_number,
        first_device=first_device,
        monitoring_ended=treatment_session.discharged_at, ready_to_leave=ready, readings=readings,
        baseline=baseline,
        events=[Noted(e.at, e.kind, e.value, e.code) for e in events],
        pre_dose_ok=pre_dose_problem(baseline, clinic.pressure) is None, alarms=clinic.alarms,
        window=checkpoint_window(clinic.ruleset), discharged_cleanly=cleanly)


def file_form(*, db: Session, treatment_session_id: str, ready_to_leave_min: int,
              actor: Actor) -> RemsFiling:
    """File the form once the patient has left, with the nurse's answer the record cannot give."""
    if not 0 < ready_to_leave_min <= MAX_READY_MIN:
        raise invalid("ready_to_leave_min", f"{ready_to_leave_min} minutes",
                      f"1 to {MAX_READY_MIN} minutes after the first device")
    form = form_for(db=db, treatment_session_id=treatment_session_id, actor=actor,
                    ready_to_leave_min=ready_to_leave_min)
    treatment_session = treatments.get_treatment_session(db=db, treatment_session_id=treatment_session_id,
                                                         actor=actor)
    if treatment_session.status != DISCHARGED:
        raise Conflict("file the form after discharge")
    if db.execute(select(RemsFiling.pk).where(RemsFiling.session_pk == treatment_session.pk)).first():
        raise Conflict("the form for this session has already been filed")
    filing = RemsFiling(session_pk=treatment_session.pk, form=form.as_dict(), filed_at=clock.now(),
                        created_by=actor.username)
    db.add(filing)
    db.flush()
    audit.record(db=db, actor=actor, action="file-rems", record_type="RemsFiling",
                 record_id=filing.id, patient_id=treatments.patient_id_of(db, treatment_session),
                 detail=f"session {treatment_session.id}")
    return filing


def filing_of(db: Session, treatment_session: TreatmentSession) -> RemsFiling | None:
    """The session's filed REMS form, if it has been filed."""
    return db.execute(select(RemsFiling).where(RemsFiling.session_pk == treatment_session.pk)
                      ).scalar_one_or_none()


def due_at_site(*, db: Session, site_pk: int) -> Sequence[dict[str, Any]]:
    """Discharged esketamine sessions at a site whose form is not filed, oldest first."""
    filed = select(RemsFiling.session_pk)
    sessions = db.execute(select(TreatmentSession).where(
        TreatmentSession.site_pk == site_pk, TreatmentSession.route == "esketamine",
        TreatmentSession.status == DISCHARGED, TreatmentSession.pk.not_in(filed))
        .order_by(TreatmentSession.dose_start)).scalars().all()
    now = clock.now()
    within = form_due_within()
    return [{"treatment_session": s, "due_by": (s.dose_start or s.checked_in_at) + within,
             "overdue": (s.dose_start or s.checked_in_at) + within < now}
            for s in sessions]
