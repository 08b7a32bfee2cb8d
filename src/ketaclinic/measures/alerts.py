"""Alert follow-through: who sees open alerts, recording what was done, escalation when overdue."""

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic import mail as email
from ketaclinic.audit import service as audit
from ketaclinic.auth.models import User
from ketaclinic.clinics.models import Site
from ketaclinic.errors import Conflict, NotFound, invalid, public_id
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.outcomes import escalation, follow_up_actions
from ketaclinic.measures import on_call, schemas
from ketaclinic.measures.models import MeasureAlert
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient, PatientMrn
from ketaclinic.settings import get_settings

ESCALATOR = Actor(username="system:alert-escalation", role="system")
NOTICE_PENDING, NOTICE_SENT, NOTICE_FAILED = "pending", "sent", "failed"
PATIENT_DIED = "the patient is recorded as deceased"


def open_alerts(*, db: Session, site_pks: set[int] | frozenset[int]) -> Sequence[
        tuple[MeasureAlert, Patient]]:
    """Open alerts at these sites, most severe and oldest first; overdue ones are escalated first
    (so a dashboard never shows an overdue alert unescalated, even between scheduled runs)."""
    escalate_overdue(db=db, actor=ESCALATOR)
    order = {"immediate": 0, "same-day": 1, "review": 2}
    rows = db.execute(select(MeasureAlert, Patient).join(Patient, Patient.pk == MeasureAlert.patient_pk)
                      .where(MeasureAlert.site_pk.in_(site_pks), MeasureAlert.closed_at.is_(None))
                      .order_by(MeasureAlert.raised_at)).all()
    pairs = [(alert, patient) for alert, patient in rows]
    return sorted(pairs, key=lambda pair: order.get(pair[0].severity, 9))


def alerts_of_patient(db: Session, patient_pk: int) -> Sequence[MeasureAlert]:
    """Every alert a patient's measures raised, newest first."""
    return db.execute(select(MeasureAlert).where(MeasureAlert.patient_pk == patient_pk)
                      .order_by(MeasureAlert.raised_at.desc())).scalars().all()


def get_alert(*, db: Session, alert_id: str, actor: Actor) -> tuple[MeasureAlert, Patient]:
    """An alert at one of the actor's sites (NotFound otherwise)."""
    alert = db.execute(select(MeasureAlert).where(
        MeasureAlert.id == public_id(alert_id, "alert"))).scalar_one_or_none()
    if alert is None or alert.site_pk not in actor.site_pks:
        raise NotFound("no such alert")
    patient = patients.open_patient(db=db, patient_id=str(_patient_id(db, alert)), actor=actor,
                                    purpose="alert follow-up")
    return alert, patient


def _patient_id(db: Session, alert: MeasureAlert) -> object:
    return db.execute(select(Patient.id).where(Patient.pk == alert.patient_pk)).scalar_one()


def close(*, db: Session, alert_id: str, data: schemas.FollowUpIn, actor: Actor) -> MeasureAlert:
    """Record what a clinician did; the alert closes. Audited."""
    alert, patient = get_alert(db=db, alert_id=alert_id, actor=actor)
    actions = follow_up_actions()
    if data.action not in actions:
        raise invalid("action", f"unknown action {data.action!r}", ", ".join(actions))
    if alert.closed_at is not None:
        raise Conflict(f"already followed up by {alert.closed_by}")
    alert.closed_at = clock.now()
    alert.closed_by = actor.username
    alert.action = data.action
    alert.note = data.note.strip()
    db.flush()
    audit.record(db=db, actor=actor, action="follow-up", record_type="MeasureAlert",
                 record_id=alert.id, patient_id=patient.id,
                 detail=f"{actions[data.action]}: {alert.note}")
    return alert


def escalate_overdue(*, db: Session, actor: Actor, now: datetime | None = None) -> list[MeasureAlert]:
    """Escalate open alerts past their time: marked on every dashboard of the site, audited with
    the prescribers it now falls to. An alert of a patient since recorded as deceased is not
    escalated: nobody can now reach the patient, and it stays open until a clinician reviews it.
    Each server's worker and every alerts page look for overdue alerts: an alert another is
    escalating is passed over, not waited for and escalated again."""
    moment = now or clock.now()
    overdue = db.execute(select(MeasureAlert).join(Patient, Patient.pk == MeasureAlert.patient_pk)
                         .where(MeasureAlert.closed_at.is_(None), MeasureAlert.escalated_at.is_(None),
                                MeasureAlert.escalate_at <= moment, Patient.deceased.is_(False))
                         .with_for_update(of=MeasureAlert, skip_locked=True)).scalars().all()
    for alert in overdue:
        alert.escalated_at = moment
        alert.notice_status, alert.notice_next_at = NOTICE_PENDING, moment
        db.flush()
        recipients = _site_prescribers(db, alert.site_pk)
        audit.record(db=db, actor=actor, action="escalate", record_type="MeasureAlert",
                     record_id=alert.id, patient_id=_patient_id(db, alert),
                     detail=f"open past {alert.escalate_at.isoformat()}; notified "
                            f"{', '.join(u.username for u in recipients) or 'nobody (no prescriber)'}")
    return list(overdue)


def _site_prescribers(db: Session, site_pk: int) -> list[User]:
    users = db.execute(select(User).where(User.role == "prescriber", User.active.is_(True))
                       ).scalars().all()
    return [u for u in users if site_pk in {s.pk for s in u.sites}]


def _recipient(db: Session, alert: MeasureAlert, at: datetime) -> User | None:
    """Who an escalated alert goes to: the site's on-call clinician, else the course's prescriber
    (either only with an email address)."""
    on_duty = on_call.on_call_at(db=db, site_pk=alert.site_pk, at=at)
    if on_duty is not None and on_duty.email:
        return on_duty
    if alert.prescriber:
        prescriber = db.execute(select(User).where(User.username == alert.prescriber,
                                                   User.active.is_(True))).scalar_one_or_none()
        if prescriber is not None and prescriber.email:
            return prescriber
    return None


def notice(db: Session, alert: MeasureAlert, to: User) -> email.Email:
    """The escalation notice: what is overdue and where to act; the patient by MRN only."""
    site = db.get(Site, alert.site_pk)
    assert site is not None
    mrn = db.execute(select(PatientMrn.mrn).where(PatientMrn.patient_pk == alert.patient_pk,
                                                  PatientMrn.site_pk == alert.site_pk)
                     ).scalar_one_or_none() or "(no MRN at this site)"
    raised = alert.raised_at.astimezone(ZoneInfo(site.time_zone))
    url = f"{get_settings().public_url}/alerts/{alert.id}"
    body = "\n".join([
        f"{to.display_name}: you are on call for {site.name}.",
        "",
        f"An alert was not followed up in time and is now escalated to you ({alert.severity}):",
        f"  {alert.message}",
        f"  raised {raised:%Y-%m-%d %H:%M} ({site.time_zone}), patient MRN {mrn}",
        "",
        f"Open it and record what was done: {url}",
    ])
    return email.Email(to=to.email, subject=f"Escalated {alert.severity} alert at {site.name}",
                       body=body)


def send_notices(db: Session, now: datetime | None = None) -> list[MeasureAlert]:
    """Email every escalated alert whose notice is due; retry a failed send, then mark it failed.
    Nothing is sent for an alert already followed up, or of a patient since recorded as
    deceased."""
    moment = now or clock.now()
    due = db.execute(select(MeasureAlert).where(
        MeasureAlert.notice_status == NOTICE_PENDING, MeasureAlert.notice_next_at <= moment)
        .order_by(MeasureAlert.notice_next_at).with_for_update(skip_locked=True)).scalars().all()
    rules = escalation()
    died = set(db.execute(select(Patient.pk).where(
        Patient.pk.in_({alert.patient_pk for alert in due}), Patient.deceased.is_(True))
    ).scalars()) if due else set()
    for alert in due:
        if alert.closed_at is not None:
            alert.notice_status, alert.notice_error = NOTICE_FAILED, "followed up before it was sent"
            continue
        if alert.patient_pk in died:
            alert.notice_status, alert.notice_error = NOTICE_FAILED, PATIENT_DIED
            continue
        to = _recipient(db, alert, moment)
        if to is None:
            alert.notice_status = NOTICE_FAILED
            alert.notice_error = ("nobody on call with an email address, and the prescriber has "
                                  "none: set the on-call rota and staff email addresses")
            continue
        alert.notice_attempts += 1
        alert.notice_to = to.email
        try:
            email.sender().send(notice(db, alert, to))
        except email.EmailNotSent as exc:
            alert.notice_error = str(exc)[:500]
            retry = email.next_attempt(attempts=alert.notice_attempts,
                                       waits_min=list(rules.notice_retry_after_min),
                                       max_attempts=rules.notice_max_attempts, after=moment)
            if retry is None:
                alert.notice_status = NOTICE_FAILED
            else:
                alert.notice_next_at = retry
            continue
        alert.notice_status, alert.notice_sent_at, alert.notice_error = NOTICE_SENT, moment, ""
        audit.record(db=db, actor=ESCALATOR, action="notify", record_type="MeasureAlert",
                     record_id=alert.id, patient_id=_patient_id(db, alert),
                     detail=f"escalation emailed to {to.username}")
    db.flush()
    return list(due)
