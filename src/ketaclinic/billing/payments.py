"""Payments and balances: money received (no card numbers, only a terminal reference), and what
each patient owes (invoices less payments)."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.billing import prices
from ketaclinic.billing.models import Invoice, Payment
from ketaclinic.clinics.models import Site
from ketaclinic.errors import invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient

METHODS = ("cash", "card", "check", "insurer")


def record(*, db: Session, site: Site, patient: Patient, amount_cents: int, method: str,
           reference: str, note: str, actor: Actor) -> Payment:
    """A payment received; a card payment keeps only its terminal reference."""
    if method not in METHODS:
        raise invalid("method", repr(method), ", ".join(METHODS))
    if amount_cents <= 0:
        raise invalid("amount_cents", f"{amount_cents}", "more than 0 (integer cents)")
    digits = sum(ch.isdigit() for ch in reference)
    if digits >= 12:
        raise invalid("reference", "looks like a card number; card numbers are never stored",
                      "the terminal's transaction reference or the last 4 digits")
    payment = Payment(site_pk=site.pk, patient_pk=patient.pk, amount_cents=amount_cents,
                      currency=prices.currency(), method=method, reference=reference.strip()[:100],
                      note=note.strip()[:300], received_at=clock.now(), created_by=actor.username)
    db.add(payment)
    db.flush()
    audit.record(db=db, actor=actor, action="payment", record_type="Payment", record_id=payment.id,
                 patient_id=patient.id, detail=f"{amount_cents} cents by {method}")
    return payment


def balance_cents(db: Session, patient: Patient) -> int:
    """Charged less paid (positive: the patient owes)."""
    charged = db.execute(select(func.coalesce(func.sum(Invoice.total_cents), 0)).where(
        Invoice.patient_pk == patient.pk)).scalar_one()
    paid = db.execute(select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(
        Payment.patient_pk == patient.pk)).scalar_one()
    return int(charged) - int(paid)
