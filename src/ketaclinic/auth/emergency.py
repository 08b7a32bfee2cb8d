"""Emergency ("break-glass") access: a clinician opens a record outside their sites after stating
why; it lasts a set time, is flagged on the patient's audit trail and waits for an
administrator's review (ONC 170.315(d)(6))."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth import actor_cache
from ketaclinic.auth.models import EmergencyAccess, User
from ketaclinic.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, public_id
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient, PatientMrn
from ketaclinic.settings import get_settings

CLINICAL_ROLES = ("prescriber", "nurse")
MIN_REASON = 20


def active_patient_pks(db: Session, user_pk: int) -> frozenset[int]:
    """The records a user holds emergency access to right now."""
    now = clock.now()
    return frozenset(db.execute(select(EmergencyAccess.patient_pk).where(
        EmergencyAccess.user_pk == user_pk, EmergencyAccess.starts_at <= now,
        EmergencyAccess.ends_at > now)).scalars())


def open_record(*, db: Session, mrn: str, reason: str, actor: Actor) -> tuple[Patient, EmergencyAccess]:
    """Grant the actor emergency access to the patient with this MRN (any site)."""
    if actor.role not in CLINICAL_ROLES or actor.user_pk is None:
        raise Forbidden("emergency access is for prescribers and nurses")
    problems = []
    if len(reason.strip()) < MIN_REASON:
        problems.append(FieldProblem("reason", "say why the record is needed now",
                                     f"at least {MIN_REASON} characters"))
    patient = db.execute(select(Patient).join(PatientMrn, PatientMrn.patient_pk == Patient.pk)
                         .where(PatientMrn.mrn == mrn.strip().upper())).scalar_one_or_none()
    if patient is None:
        problems.append(FieldProblem("mrn", f"no patient with MRN {mrn.strip()!r}",
                                     "the patient's MRN from any site of the network"))
    if problems:
        raise InvalidInput(problems)
    assert patient is not None
    if set(patient.site_pks) & actor.site_pks:
        raise Conflict("this patient is at one of your sites: open the chart as usual")
    now = clock.now()
    grant = EmergencyAccess(user_pk=actor.user_pk, patient_pk=patient.pk, reason=reason.strip(),
                            starts_at=now,
                            ends_at=now + timedelta(minutes=get_settings().emergency_access_min),
                            created_by=actor.username)
    db.add(grant)
    db.flush()
    actor_cache.forget_user(actor.user_pk)  # the grant widens what this user may read now
    audit.record(db=db, actor=actor, action="break-glass", record_type="Patient",
                 record_id=patient.id, patient_id=patient.id,
                 detail=f"emergency access until {grant.ends_at.isoformat(timespec='minutes')}: "
                        f"{grant.reason}"[:1000])
    return patient, grant


def _of_patients_at_sites_of(actor: Actor) -> Any:
    """Grants for patients registered at one of the actor's sites (whose administrators review)."""
    return EmergencyAccess.patient_pk.in_(select(PatientMrn.patient_pk).where(
        PatientMrn.site_pk.in_(actor.site_pks)))


def to_review(db: Session, actor: Actor) -> Sequence[tuple[EmergencyAccess, User, Patient]]:
    """Emergency accesses to patients of the administrator's sites that no administrator has
    reviewed yet, newest first."""
    rows = db.execute(select(EmergencyAccess, User, Patient)
                      .join(User, User.pk == EmergencyAccess.user_pk)
                      .join(Patient, Patient.pk == EmergencyAccess.patient_pk)
                      .where(EmergencyAccess.reviewed_at.is_(None), _of_patients_at_sites_of(actor))
                      .order_by(EmergencyAccess.starts_at.desc())).all()
    return [(grant, user, patient) for grant, user, patient in rows]


def review(*, db: Session, access_id: str, note: str, actor: Actor) -> EmergencyAccess:
    """An administrator's review of an emergency access (audited on the patient's trail)."""
    grant = db.execute(select(EmergencyAccess).where(
        EmergencyAccess.id == public_id(access_id, "emergency access"),
        _of_patients_at_sites_of(actor))).scalar_one_or_none()
    if grant is None:
        raise NotFound("no such emergency access")
    if grant.reviewed_at is not None:
        raise Conflict(f"already reviewed by {grant.reviewed_by}")
    grant.reviewed_by, grant.reviewed_at = actor.username, clock.now()
    grant.review_note = note.strip()[:1000]
    patient_id = db.execute(select(Patient.id).where(Patient.pk == grant.patient_pk)).scalar_one()
    db.flush()
    audit.record(db=db, actor=actor, action="review", record_type="EmergencyAccess",
                 record_id=grant.id, patient_id=patient_id, detail=grant.review_note or "reviewed")
    return grant
