"""Billing use cases with reach: sites, patients, sessions and invoices of the actor's sites."""

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.billing import charges, coverage, estimate, plans, prices, schemas
from ketaclinic.billing.models import Invoice, Payment, PaymentPlan, SlidingScaleBand
from ketaclinic.clinics.models import Site
from ketaclinic.clinics.service import site_by_code
from ketaclinic.db import by_public_id
from ketaclinic.errors import invalid, public_id
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import DISCHARGED, TreatmentSession


def band_of(db: Session, band_id: object, site: Site) -> SlidingScaleBand | None:
    """A sliding-scale band of the site (None when none is asked for)."""
    if band_id is None:
        return None
    band = db.execute(select(SlidingScaleBand).where(
        SlidingScaleBand.id == public_id(band_id, "band"),
        SlidingScaleBand.site_pk == site.pk)).scalar_one_or_none()
    if band is None:
        raise invalid("band_id", "not a sliding-scale band of this site", "a band of the site")
    return band


def make_estimate(*, db: Session, data: schemas.EstimateIn, actor: Actor,
                  today: date) -> estimate.Estimate:
    """An estimate at the prices in force on the day asked (default today)."""
    site = site_by_code(db, data.site, actor)
    patient = None if data.patient_id is None else patients.open_patient(
        db=db, patient_id=data.patient_id, actor=actor, purpose="estimate")
    result = estimate.estimate(db=db, site=site, route=data.route, sessions=data.sessions,
                               on=data.on or today, weight_kg=data.weight_kg,
                               dose_mg=data.dose_mg, band=band_of(db, data.band_id, site))
    if patient is not None:
        pct, basis = coverage.expected(db, patient, data.route, data.sessions, result.on)
        result.insurance_expected_cents = prices.discount_cents(result.total_cents, pct)
        result.insurance_basis = basis
    return result


def estimate_out(result: estimate.Estimate) -> schemas.EstimateOut:
    """The API shape of an estimate."""
    return schemas.EstimateOut(
        route=result.route, sessions=result.sessions, dose_mg=result.dose_mg,
        dose_basis=result.dose_basis, currency=result.currency,
        lines=[schemas.LineOut(label=line.label, units=line.units, unit_cents=line.unit_cents,
                               amount_cents=line.amount_cents, basis=line.basis)
               for line in result.lines],
        total_cents=result.total_cents, insurance_expected_cents=result.insurance_expected_cents,
        insurance_basis=result.insurance_basis, patient_pays_cents=result.patient_pays_cents,
        per_session_cents=result.per_session_cents)


def treatment_session_at(db: Session, treatment_session_id: object, actor: Actor) -> TreatmentSession:
    """A treatment session at one of the actor's sites."""
    return by_public_id(db, TreatmentSession, treatment_session_id, "treatment session",
                        site_pks=actor.site_pks)


def invoice_at(db: Session, invoice_id: object, actor: Actor) -> Invoice:
    """An invoice of one of the actor's sites."""
    return by_public_id(db, Invoice, invoice_id, "invoice", site_pks=actor.site_pks)


def payment_at(db: Session, payment_id: object, actor: Actor) -> Payment:
    """A payment taken at one of the actor's sites."""
    return by_public_id(db, Payment, payment_id, "payment", site_pks=actor.site_pks)


def invoice_out(db: Session, invoice: Invoice) -> schemas.InvoiceOut:
    """The API shape of an invoice."""
    return schemas.InvoiceOut(
        id=invoice.id, service_date=invoice.service_date, provider=invoice.provider,
        currency=invoice.currency, total_cents=invoice.total_cents,
        diagnoses=list(invoice.diagnoses),
        lines=[schemas.LineOut(label=f"{line.code} {line.description}", units=line.units,
                               unit_cents=line.unit_price_cents, amount_cents=line.amount_cents,
                               basis=line.basis) for line in charges.lines_of(db, invoice)])


def account(db: Session, patient: Patient) -> dict[str, Any]:
    """A patient's invoices, payments, sessions not yet charged, and balance."""
    invoices = db.execute(select(Invoice).where(Invoice.patient_pk == patient.pk)
                          .order_by(Invoice.service_date, Invoice.pk)).scalars().all()
    paid = db.execute(select(Payment).where(Payment.patient_pk == patient.pk)
                      .order_by(Payment.received_at)).scalars().all()
    charged_sessions = {i.session_pk for i in invoices}
    uncharged = [s for s in db.execute(select(TreatmentSession).where(
        TreatmentSession.patient_pk == patient.pk, TreatmentSession.status == DISCHARGED,
        TreatmentSession.dose_given.is_not(None)).order_by(TreatmentSession.dose_start)).scalars()
        if s.pk not in charged_sessions]
    charged = sum(i.total_cents for i in invoices)
    received = sum(p.amount_cents for p in paid)
    site_zone = {s.pk: s.time_zone for s in db.execute(select(Site)).scalars()}
    plan_rows = db.execute(select(PaymentPlan).where(PaymentPlan.patient_pk == patient.pk)
                           .order_by(PaymentPlan.pk)).scalars().all()
    today = {pk: clock.today(zone) for pk, zone in site_zone.items()}
    return {"invoices": invoices, "payments": paid, "uncharged": uncharged,
            "plans": [(plan, plans.states(db, plan, today[plan.site_pk])) for plan in plan_rows],
            "charged_cents": charged, "paid_cents": received,
            "balance_cents": charged - received, "currency": prices.currency()}


def invoices_of(db: Session, patient: Patient) -> Sequence[Invoice]:
    """A patient's invoices, newest visit first."""
    return db.execute(select(Invoice).where(Invoice.patient_pk == patient.pk)
                      .order_by(Invoice.service_date.desc())).scalars().all()


def payments_of(db: Session, patient: Patient) -> Sequence[Payment]:
    """A patient's payments, newest first."""
    return db.execute(select(Payment).where(Payment.patient_pk == patient.pk)
                      .order_by(Payment.received_at.desc())).scalars().all()


def invoice_of_patient(db: Session, patient: Patient, invoice_id: object) -> Invoice:
    """One of the patient's own invoices (404 otherwise)."""
    return by_public_id(db, Invoice, invoice_id, "invoice", patient_pk=patient.pk)


def payment_of_patient(db: Session, patient: Patient, payment_id: object) -> Payment:
    """One of the patient's own payments (404 otherwise)."""
    return by_public_id(db, Payment, payment_id, "payment", patient_pk=patient.pk)
