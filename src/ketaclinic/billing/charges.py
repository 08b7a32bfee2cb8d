"""Charging a treatment session: its codes from what happened (route, infusion time, dose), priced
at the day's price list, with the patient's diagnoses; the invoice keeps those prices."""

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth.models import User
from ketaclinic.billing import prices
from ketaclinic.billing.models import ChargeLine, Invoice
from ketaclinic.clinics.models import Site
from ketaclinic.courses.models import Course
from ketaclinic.errors import Conflict
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import billing as rules
from ketaclinic.knowledge.codes import icd10_for_snomed
from ketaclinic.knowledge.record import ACTIVE_CLINICAL, NEVER_COUNTS
from ketaclinic.patients.models import Condition, Patient
from ketaclinic.treatments.models import DISCHARGED, TreatmentSession


def diagnoses(db: Session, patient: Patient, indication: str) -> list[str]:
    """ICD-10-CM codes of the patient's current conditions (active, or back as a recurrence or
    relapse; SNOMED codes mapped by codes.toml), the one the course treats first: a claim's
    first diagnosis is what the session was for, not whatever was recorded first."""
    mapped = icd10_for_snomed()
    found: list[str] = []
    rows = db.execute(select(Condition).where(Condition.patient_pk == patient.pk)
                      .order_by(Condition.pk)).scalars()
    for condition in rows:
        if condition.clinical_status not in ACTIVE_CLINICAL or condition.verification_status \
                in NEVER_COUNTS:
            continue
        icd10 = "icd-10" in (condition.system or "")
        codes = [condition.code] if icd10 else list(mapped.get(condition.code, []))[:1]
        found.extend(c for c in codes if c not in found)
    treated = rules.indication_diagnoses(indication)
    return sorted(found, key=lambda code: not code.startswith(treated))


def _indication(db: Session, treatment_session: TreatmentSession) -> str:
    return str(db.execute(select(Course.indication).where(
        Course.pk == treatment_session.course_pk)).scalar_one())


def _unit_price(db: Session, site: Site, code: str, day: date, dose_mg: float) -> int:
    if code == rules.iv_drug_code():
        return prices.ketamine_cents(db, site, day, dose_mg)
    return prices.require_price(db, site, code, day)


def charge_session(*, db: Session, treatment_session: TreatmentSession, actor: Actor) -> Invoice:
    """The invoice for a closed treatment session (one per session)."""
    if treatment_session.status != DISCHARGED or not treatment_session.dose_given:
        raise Conflict("only a closed treatment session with a dose can be charged")
    if db.execute(select(Invoice.pk).where(Invoice.session_pk == treatment_session.pk)).first():
        raise Conflict("this treatment session has already been charged")
    site = db.get(Site, treatment_session.site_pk)
    patient = db.get(Patient, treatment_session.patient_pk)
    assert site is not None and patient is not None and treatment_session.dose_start is not None
    day = clock.date_in(treatment_session.dose_start, site.time_zone)
    minutes = ((treatment_session.dose_end - treatment_session.dose_start).total_seconds() / 60
               if treatment_session.dose_end else None)
    dose = float(treatment_session.dose_given.dose_mg)
    codes = rules.session_codes(route=treatment_session.route, dose_mg=dose, infusion_minutes=minutes)
    lines = []
    for code in codes:
        unit = _unit_price(db, site, code.code, day, dose)
        lines.append(ChargeLine(code=code.code, code_system=code.system,
                                description=code.description, units=code.units,
                                unit_price_cents=unit, amount_cents=unit * code.units,
                                basis=code.basis[:500], created_by=actor.username))
    provider = db.execute(select(User.display_name).where(User.username == treatment_session.ordered_by)
                          ).scalar_one_or_none() or (treatment_session.ordered_by or "")
    invoice = Invoice(site_pk=site.pk, patient_pk=patient.pk, session_pk=treatment_session.pk,
                      service_date=day, provider=provider, currency=prices.currency(),
                      total_cents=sum(line.amount_cents for line in lines),
                      diagnoses=diagnoses(db, patient, _indication(db, treatment_session)),
                      issued_at=clock.now(),
                      created_by=actor.username)
    db.add(invoice)
    db.flush()
    for line in lines:
        line.invoice_pk = invoice.pk
    db.add_all(lines)
    db.flush()
    audit.record(db=db, actor=actor, action="charge", record_type="Invoice", record_id=invoice.id,
                 patient_id=patient.id, detail=", ".join(f"{line.code} x{line.units}"
                                                         for line in lines)
                 + f"; {invoice.total_cents} cents")
    return invoice


def lines_of(db: Session, invoice: Invoice) -> list[ChargeLine]:
    """An invoice's lines in order."""
    return list(db.execute(select(ChargeLine).where(ChargeLine.invoice_pk == invoice.pk)
                           .order_by(ChargeLine.pk)).scalars())
