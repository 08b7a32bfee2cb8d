"""Insurance on the patient and prior authorisations (esketamine), with expiry warnings, and what
an estimate may expect the payer to cover."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.audit import service as audit
from ketaclinic.billing import schemas
from ketaclinic.billing.models import Coverage, Invoice, PriorAuthorization
from ketaclinic.db import by_public_id
from ketaclinic.errors import invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import billing as rules
from ketaclinic.knowledge.appointments import TREATMENT_ROUTES
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import TreatmentSession


@dataclass(frozen=True)
class AuthorizationState:
    """A prior authorisation with its use and warnings."""

    authorization: PriorAuthorization
    used: int
    remaining: int
    warnings: list[str]


def add(*, db: Session, patient: Patient, data: schemas.CoverageIn, actor: Actor) -> Coverage:
    """Record a patient's insurance."""
    unknown = [r for r in data.routes if r not in TREATMENT_ROUTES]
    if unknown:
        raise invalid("routes", ", ".join(unknown), ", ".join(TREATMENT_ROUTES))
    row = Coverage(patient_pk=patient.pk, payer=data.payer.strip(), plan=data.plan.strip(),
                   member_id=data.member_id.strip(), routes=sorted(set(data.routes)),
                   expected_pct=data.expected_pct, notes=data.notes.strip(),
                   created_by=actor.username)
    db.add(row)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="Coverage", record_id=row.id,
                 patient_id=patient.id, detail=f"{row.payer} {row.plan}")
    return row


def of_patient(db: Session, patient: Patient, coverage_id: object) -> Coverage:
    """One of the patient's coverages by id (404 otherwise)."""
    return by_public_id(db, Coverage, coverage_id, "coverage", patient_pk=patient.pk)


def authorize(*, db: Session, coverage: Coverage, data: schemas.AuthorizationIn,
              actor: Actor, patient: Patient) -> PriorAuthorization:
    """Record a prior authorisation (approved ones need their dates and sessions)."""
    if data.status == "approved":
        if data.starts_on is None or data.ends_on is None or data.sessions_authorised < 1:
            raise invalid("status", "an approved authorisation needs its dates and sessions",
                          "starts_on, ends_on and sessions_authorised")
        if data.ends_on < data.starts_on:
            raise invalid("ends_on", "is before starts_on", "a date on or after the start")
    row = PriorAuthorization(coverage_pk=coverage.pk, route=data.route, number=data.number,
                             status=data.status, starts_on=data.starts_on, ends_on=data.ends_on,
                             sessions_authorised=data.sessions_authorised,
                             created_by=actor.username)
    db.add(row)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="PriorAuthorization",
                 record_id=row.id, patient_id=patient.id,
                 detail=f"{data.route} {data.status} {data.number}")
    return row


def state(db: Session, authorization: PriorAuthorization, patient_pk: int,
          today: date) -> AuthorizationState:
    """Sessions charged under an authorisation, what is left, and the warnings due."""
    rule = rules.authorization_rule()
    used = 0
    if authorization.starts_on and authorization.ends_on:
        used = int(db.execute(select(func.count()).select_from(Invoice).join(
            TreatmentSession, TreatmentSession.pk == Invoice.session_pk).where(
            Invoice.patient_pk == patient_pk, TreatmentSession.route == authorization.route,
            Invoice.service_date >= authorization.starts_on,
            Invoice.service_date <= authorization.ends_on)).scalar_one())
    remaining = max(authorization.sessions_authorised - used, 0)
    warnings = []
    if authorization.status != "approved":
        warnings.append(f"authorisation {authorization.status}")
    elif authorization.ends_on is not None:
        left = (authorization.ends_on - today).days
        if left < 0:
            warnings.append(f"expired on {authorization.ends_on}")
        elif left <= rule.warn_days_before_expiry:
            warnings.append(f"expires in {left} days ({authorization.ends_on})")
        if remaining == 0:
            warnings.append("every authorised session is used")
        elif remaining <= rule.warn_sessions_left:
            warnings.append(f"{remaining} authorised session(s) left")
    return AuthorizationState(authorization, used, remaining, warnings)


def of(db: Session, patient: Patient) -> list[tuple[Coverage, list[PriorAuthorization]]]:
    """A patient's coverages with their authorisations."""
    rows = db.execute(select(Coverage).where(Coverage.patient_pk == patient.pk)
                      .order_by(Coverage.pk)).scalars().all()
    return [(c, list(db.execute(select(PriorAuthorization).where(
        PriorAuthorization.coverage_pk == c.pk).order_by(PriorAuthorization.pk)).scalars()))
        for c in rows]


def expected(db: Session, patient: Patient, route: str, sessions: int,
             on: date) -> tuple[int, str]:
    """The share (%) the payer is expected to cover for a course, and why (0 with the reason)."""
    rule = rules.authorization_rule()
    for cover, authorizations in of(db, patient):
        if not cover.active or route not in cover.routes:
            continue
        basis = (f"{cover.payer} {cover.plan}".strip() + f": {cover.expected_pct} % expected "
                 f"for {route} from the benefits check")
        if route not in rule.routes:
            return cover.expected_pct, basis
        for authorization in authorizations:
            current = state(db, authorization, patient.pk, on)
            if authorization.status == "approved" and authorization.starts_on and \
                    authorization.ends_on and authorization.starts_on <= on <= \
                    authorization.ends_on and current.remaining >= sessions:
                return cover.expected_pct, (f"{basis}; prior authorisation "
                                            f"{authorization.number} covers {sessions} sessions")
        return 0, (f"{cover.payer}: no approved prior authorisation covering {sessions} "
                   f"{route} sessions on {on}; self-pay until one is approved")
    return 0, "no insurance covering this treatment recorded: the estimate assumes self-pay"
