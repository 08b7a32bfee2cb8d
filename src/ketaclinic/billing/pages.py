"""Billing pages: the estimate (with a plain-language, printable version for the patient) and a
patient's account (charge closed sessions, record payments, download superbills)."""

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.billing import (
    charges,
    coverage,
    payments,
    plans,
    prices,
    schemas,
    service,
    superbill,
)
from ketaclinic.billing.models import Invoice, Payment
from ketaclinic.billing.router import INVOICE, PAYMENT, SESSION
from ketaclinic.clinics import service as clinics
from ketaclinic.clinics.service import site_by_code
from ketaclinic.errors import Conflict, InvalidInput, invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.patients import service as patients
from ketaclinic.scheduling.availability import zone_of
from ketaclinic.treatments.models import TreatmentSession
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM, form_action, form_values, messages_of, validate
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)
ESTIMATE_FIELDS = ("site", "route", "sessions", "weight_kg", "dose_mg", "band_id")


@router.get("/billing/estimate", response_class=HTMLResponse)
def estimate_page(request: Request, actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                  db: Session = DB) -> Response:
    """The estimate form; with its fields filled, the estimate and its plain-language version."""
    values: dict[str, object] = {k: v for k, v in request.query_params.items()
                                 if k in ESTIMATE_FIELDS and v}
    sites = clinics.sites_of(db=db, actor=actor)
    bands = {s.code: prices.bands_on(db, s.pk, clock.today(s.time_zone)) for s in sites}
    result, errors, status = None, [], 200
    if "route" in values:
        try:
            data = validate(schemas.EstimateIn, values)
            site = site_by_code(db, data.site, actor)
            result = service.make_estimate(db=db, data=data, actor=actor,
                                           today=clock.today(zone_of(site)))
        except (InvalidInput, Conflict) as exc:
            errors, status = messages_of(exc), exc.status
    return render(request, "billing/estimate.html", status_code=status, values=values,
                  sites=sites, bands=bands, result=result, errors=errors, money=superbill.money)


def _account_page(request: Request, db: Session, actor: Actor, patient_id: str,
                  errors: list[str] | None = None, values: dict[str, Any] | None = None,
                  status_code: int = 200) -> Response:
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="account")
    found = service.account(db, patient)
    lines = {i.pk: charges.lines_of(db, i) for i in found["invoices"]}
    today = patients.local_today(patient)
    insurance = [(c, [coverage.state(db, a, patient.pk, today) for a in auths])
                 for c, auths in coverage.of(db, patient)]
    sites = [s for s in clinics.sites_of(db=db, actor=actor) if s.pk in patient.site_pks]
    return render(request, "billing/account.html", status_code=status_code, patient=patient,
                  account=found, lines=lines, sites=sites, errors=errors or [],
                  tz=patients.time_zone_of(patient), insurance=insurance,
                  values=values or {}, money=superbill.money)


@router.get("/patients/{patient_id}/account", response_class=HTMLResponse)
def account_page(request: Request, patient_id: str,
                 actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                 db: Session = DB) -> Response:
    """A patient's invoices, payments and balance."""
    return _account_page(request, db, actor, patient_id)


@router.post("/patients/{patient_id}/account/payments", response_class=HTMLResponse)
def payment_page(request: Request, patient_id: str,
                 actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                 db: Session = DB, form: FormData = FORM) -> Response:
    """Record a payment (amount typed in dollars and cents)."""
    values = form_values(form)

    def record() -> None:
        data = validate(schemas.PaymentIn, {
            **{k: v for k, v in values.items() if k != "amount"},
            "amount_cents": _cents(values.get("amount", ""))})
        patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                        purpose="record a payment")
        payments.record(db=db, site=site_by_code(db, data.site, actor), patient=patient,
                        amount_cents=data.amount_cents, method=data.method,
                        reference=data.reference, note=data.note, actor=actor)

    return form_action(db, record, done=f"/patients/{patient_id}/account",
                       again=lambda errors, status: _account_page(request, db, actor, patient_id,
                                                                  errors, values, status))


def _cents(text: str, field: str = "amount") -> int:
    """An amount typed as 200 or 200.50 in whole cents."""
    try:
        amount = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise invalid(field, f"{text!r} is not an amount", "e.g. 200 or 200.50") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise invalid(field, f"{text!r} has more than cents", "e.g. 200 or 200.50")
    return int(amount * 100)


@router.post("/patients/{patient_id}/account/plans", response_class=HTMLResponse)
def plan_page(request: Request, patient_id: str,
              actor: Actor = Depends(require(Permission.BILLING_RECORD)),
              db: Session = DB, form: FormData = FORM) -> Response:
    """Set up a payment plan (amount in dollars and cents, equal instalments)."""
    values = form_values(form)

    def record() -> None:
        data = validate(schemas.PlanIn, {
            **{k: v for k, v in values.items() if k != "total"},
            "total_cents": _cents(values.get("total", ""), "total")})
        patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                        purpose="payment plan")
        plans.create(db=db, site=site_by_code(db, data.site, actor), patient=patient,
                     total_cents=data.total_cents, instalments=data.instalments,
                     starts_on=data.starts_on, every_days=data.every_days, note=data.note,
                     actor=actor)

    return form_action(db, record, done=f"/patients/{patient_id}/account",
                       again=lambda errors, status: _account_page(request, db, actor, patient_id,
                                                                  errors, values, status))


@router.post("/patients/{patient_id}/account/coverages", response_class=HTMLResponse)
def coverage_page(request: Request, patient_id: str,
                  actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                  db: Session = DB, form: FormData = FORM) -> Response:
    """Record the patient's insurance from the benefits check."""
    values = form_values(form)

    def record() -> None:
        data = validate(schemas.CoverageIn, {
            **{k: v for k, v in values.items() if k != "routes"},
            "routes": [str(r) for r in form.getlist("routes")]})
        patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                        purpose="insurance")
        coverage.add(db=db, patient=patient, data=data, actor=actor)

    return form_action(db, record, done=f"/patients/{patient_id}/account",
                       again=lambda errors, status: _account_page(request, db, actor, patient_id,
                                                                  errors, values, status))


@router.post("/treatment-sessions/{treatment_session_id}/charge")
def charge_page(request: Request, treatment_session_id: str,
                actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                db: Session = DB, treatment_session: TreatmentSession = SESSION) -> Response:
    """Charge a closed session and go back to the patient's account."""
    patient_id = str(patients.id_of(db, treatment_session.patient_pk))
    return form_action(db, lambda: charges.charge_session(
        db=db, treatment_session=treatment_session, actor=actor),
                       done=f"/patients/{patient_id}/account",
                       again=lambda errors, status: _account_page(request, db, actor, patient_id,
                                                                  errors, status_code=status))


@router.get("/invoices/{invoice_id}/superbill.pdf")
def superbill_page(invoice_id: str, actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                   db: Session = DB, invoice: Invoice = INVOICE) -> Response:
    """The superbill PDF for a signed-in user."""
    body = superbill.render(db, invoice)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="superbill-{invoice.service_date}.pdf"'})


@router.get("/payments/{payment_id}/receipt.pdf")
def receipt_page(payment_id: str, actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                 db: Session = DB, found: Payment = PAYMENT) -> Response:
    """A receipt for a payment."""
    body = superbill.receipt(db, found)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="receipt-{found.id}.pdf"'})
