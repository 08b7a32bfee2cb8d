"""Check-in checks: route-specific confirmations plus what the record shows today."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.courses import service as courses
from ketaclinic.evaluations import service as evaluations
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.checkin import checks, checks_for
from ketaclinic.knowledge.screening import screen
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import ENTERED_IN_ERROR, Patient, VitalSigns
from ketaclinic.patients.record import screening_record
from ketaclinic.treatments.models import TreatmentSession


def weight_today(db: Session, session: TreatmentSession) -> float | None:
    """The patient's latest weight charted today (in their site's time zone), if any."""
    patient = db.execute(select(Patient).where(Patient.pk == session.patient_pk)).scalar_one()
    zone = ZoneInfo(patients.time_zone_of(patient))
    today = patients.local_today(patient)
    recent = db.execute(select(VitalSigns.weight_kg, VitalSigns.measured_at).where(
        VitalSigns.patient_pk == patient.pk, VitalSigns.weight_kg.is_not(None),
        VitalSigns.status != ENTERED_IN_ERROR,
        VitalSigns.measured_at >= clock.now() - timedelta(days=2))
        .order_by(VitalSigns.measured_at.desc())).all()
    return next((w for w, at in recent if at.astimezone(zone).date() == today), None)


def _automatic(db: Session, session: TreatmentSession, patient_id: str,
               actor: Actor) -> dict[str, tuple[bool, str]]:
    patient = patients.chart(db=db, patient_id=patient_id, actor=actor)
    course = courses.by_pk(db, session.course_pk)
    evaluation = db.execute(select(Evaluation).where(Evaluation.pk == course.evaluation_pk)
                            ).scalar_one()
    today = patients.local_today(patient)
    zone = patients.time_zone_of(patient)
    result = screen(screening_record(patient), route=session.route, on=today,
                    ruleset=evaluations.current_ruleset(db=db), time_zone=zone)
    blocking = [f.message for f in result.findings if f.severity == "contraindication"]
    consents = evaluations.consents_for(db=db, patient_id=patient_id, actor=actor)
    weighed_today = weight_today(db, session) is not None
    return {
        "signed-evaluation": (evaluation.status == "signed" and evaluation.signed_decision == "start",
                              f"evaluation of {evaluation.screened_on} signed by "
                              f"{evaluation.signed_by or 'nobody'}"),
        "consent": (evaluations.has_consent(consents),
                    "consent on file" if evaluations.has_consent(consents) else "no consent recorded"),
        "no-new-contraindication": (not blocking, "; ".join(blocking) or
                                    f"screened today with rule set {result.ruleset_version}"),
        "current-weight": (weighed_today, "weight recorded today" if weighed_today
                           else "record today's weight on the chart"),
    }


def run_checks(*, db: Session, session: TreatmentSession, patient_id: str,
               confirmations: dict[str, bool], actor: Actor) -> dict[str, Any]:
    """Record the nurse's confirmations and work out the automatic checks; audited."""
    automatic = _automatic(db, session, patient_id, actor)
    now = clock.now().isoformat()
    results: dict[str, Any] = dict(session.checks or {})
    for check in checks_for(session.route):
        if check.kind == "automatic":
            ok, detail = automatic[check.id]
        elif check.id in confirmations:
            ok = bool(confirmations[check.id])
            detail = "confirmed" if ok else "not confirmed"
        else:
            continue
        results[check.id] = {"ok": ok, "by": actor.username, "at": now, "detail": detail}
    session.checks = results
    db.flush()
    failed = failed_checks(session)
    audit.record(db=db, actor=actor, action="update", record_type="TreatmentSession",
                 record_id=session.id, patient_id=patient_id,
                 detail="checks: " + ("all passed" if not failed else "failed " + ", ".join(failed)))
    return results


def failed_checks(session: TreatmentSession) -> list[str]:
    """The checks of the route not (yet) passed."""
    done = session.checks or {}
    return [c.id for c in checks_for(session.route) if not done.get(c.id, {}).get("ok")]


def labels(ids: Sequence[str]) -> list[str]:
    """The labels of some check ids, for messages."""
    by_id = {c.id: c.label for c in checks()}
    return [by_id.get(i, i) for i in ids]
