"""Check-in at the chair: a booked appointment opens its treatment session, and the nurse's
confirmations and what the patient's record, evaluation, consent and course show today are
recorded on the session."""

from typing import Any

from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.clinics import rules as clinic_rules
from ketaclinic.courses import service as courses
from ketaclinic.errors import Conflict
from ketaclinic.evaluations import service as evaluations
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.checkin import checks as checkin_rules
from ketaclinic.knowledge.checkin import left_out
from ketaclinic.knowledge.screening import CannotScreen, screen
from ketaclinic.patients import service as patients
from ketaclinic.patients.record import screening_record
from ketaclinic.scheduling import booking
from ketaclinic.scheduling import service as scheduling
from ketaclinic.treatments import checks
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import TreatmentSession


def _automatic(db: Session, treatment_session: TreatmentSession, patient_id: str,
               actor: Actor) -> dict[str, tuple[bool, str]]:
    patient = patients.chart(db=db, patient_id=patient_id, actor=actor)
    course = courses.by_pk(db, treatment_session.course_pk)
    evaluation = evaluations.of_course(db, course)
    today = patients.local_today(patient)
    zone = patients.time_zone_of(patient)
    try:
        result = screen(screening_record(patient), route=treatment_session.route, on=today,
                        ruleset=clinic_rules.current_ruleset(db=db), time_zone=zone)
    except CannotScreen as exc:  # the patient is recorded as deceased
        return _refused(str(exc))
    blocking = [f.message for f in result.findings if f.severity == "contraindication"
                and f.rule not in left_out("no-new-contraindication")]
    weighed = {f["rule"] for f in evaluations.findings_of(evaluation, "caution")
               } | left_out("no-new-caution")
    unweighed = [f.message for f in result.findings
                 if f.severity == "caution" and f.rule not in weighed]
    consents = evaluations.consents_for(db=db, patient_id=patient_id, actor=actor)
    weighed_today = checks.weight_today(db, treatment_session) is not None
    return {
        "signed-evaluation": (evaluation.status == "signed" and evaluation.signed_decision == "start",
                              f"evaluation of {evaluation.screened_on} signed by "
                              f"{evaluation.signed_by or 'nobody'}"),
        "consent": (evaluations.has_consent(consents),
                    "consent on file" if evaluations.has_consent(consents) else "no consent recorded"),
        "no-new-contraindication": (not blocking, "; ".join(blocking) or
                                    f"screened today with rule set {result.ruleset_version}"),
        "no-new-caution": (not unweighed, "; ".join(unweighed) or
                           f"none since the evaluation of {evaluation.screened_on}"),
        "current-weight": (weighed_today, "weight recorded today" if weighed_today
                           else "record today's weight on the chart"),
    }


def _refused(why: str) -> dict[str, tuple[bool, str]]:
    """Every automatic check failed, for one reason that stops the session whatever else holds."""
    return {check.id: (False, why) for check in checkin_rules() if check.kind == "automatic"}


def check_in(*, db: Session, treatment_session_id: str, confirmations: dict[str, bool],
             actor: Actor) -> dict[str, Any]:
    """Record the nurse's confirmations on an open session and work out the automatic checks
    from the record; audited. Returns every check's result."""
    treatment_session = treatments.open_record(db=db, treatment_session_id=treatment_session_id, actor=actor)
    patient_id = str(treatments.patient_id_of(db, treatment_session))
    automatic = _automatic(db, treatment_session, patient_id, actor)
    now = clock.now().isoformat()
    results: dict[str, Any] = dict(treatment_session.checks or {})
    for check in checks.checks_for(treatment_session.route):
        if check.kind == "automatic":
            ok, detail = automatic[check.id]
        elif check.id in confirmations:
            ok = bool(confirmations[check.id])
            detail = "confirmed" if ok else "not confirmed"
        else:
            continue
        results[check.id] = {"ok": ok, "by": actor.username, "at": now, "detail": detail}
    treatment_session.checks = results
    db.flush()
    failed = checks.failed_checks(treatment_session)
    audit.record(db=db, actor=actor, action="update", record_type="TreatmentSession",
                 record_id=treatment_session.id, patient_id=patient_id,
                 detail="checks: " + ("all passed" if not failed else "failed " + ", ".join(failed)))
    return results


def open_from_appointment(*, db: Session, appointment_id: str, actor: Actor) -> TreatmentSession:
    """Open the treatment session of a booked appointment at its chair; the appointment is
    checked in to it."""
    appointment = scheduling.appointment_of(db, appointment_id, actor)
    if not booking.can_check_in(appointment):
        raise Conflict("only a booked treatment appointment of a course can be checked in")
    assert appointment.course_pk is not None and appointment.chair_pk is not None
    treatment_session = treatments.open_booked(db=db, patient_pk=appointment.patient_pk,
                                               course_pk=appointment.course_pk,
                                               chair_pk=appointment.chair_pk, actor=actor)
    booking.checked_in(db=db, appointment=appointment, treatment_session_pk=treatment_session.pk)
    return treatment_session
