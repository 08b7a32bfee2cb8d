"""JSON API for billing under /api/v1: the price list, estimates, charging sessions, superbills,
payments and a patient's account."""

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from ketaclinic.auth.actor import Actor
from ketaclinic.auth.permissions import Permission
from ketaclinic.billing import charges, payments, prices, schemas, service, superbill
from ketaclinic.db import utcnow
from ketaclinic.patients import service as patients
from ketaclinic.scheduling.availability import zone_of
from ketaclinic.web.deps import API_PREFIX, get_db, require

router = APIRouter(prefix=API_PREFIX, tags=["billing"])


@router.post("/billing/prices", status_code=201)
def set_price(data: schemas.PriceIn, actor: Actor = Depends(require(Permission.BILLING_MANAGE)),
              db: Session = Depends(get_db)) -> dict[str, object]:
    """A price for an item at a site from a date on (earlier invoices keep their prices)."""
    row = prices.set_price(db=db, site=service.site_by_code(db, data.site, actor), item=data.item,
                           amount_cents=data.amount_cents, effective_from=data.effective_from,
                           actor=actor)
    db.commit()
    return {"id": str(row.id), "item": row.item, "amount_cents": row.amount_cents,
            "currency": row.currency, "effective_from": row.effective_from.isoformat()}


@router.post("/billing/packages", status_code=201)
def add_package(data: schemas.PackageIn,
                actor: Actor = Depends(require(Permission.BILLING_MANAGE)),
                db: Session = Depends(get_db)) -> dict[str, object]:
    """A price for a whole series of a route."""
    row = prices.add_package(db=db, site=service.site_by_code(db, data.site, actor),
                             name=data.name, route=data.route, sessions=data.sessions,
                             amount_cents=data.amount_cents, effective_from=data.effective_from,
                             actor=actor)
    db.commit()
    return {"id": str(row.id), "name": row.name, "amount_cents": row.amount_cents}


@router.post("/billing/bands", status_code=201)
def add_band(data: schemas.BandIn, actor: Actor = Depends(require(Permission.BILLING_MANAGE)),
             db: Session = Depends(get_db)) -> dict[str, object]:
    """A sliding-scale band."""
    row = prices.add_band(db=db, site=service.site_by_code(db, data.site, actor), name=data.name,
                          income_up_to_cents=data.income_up_to_cents,
                          discount_pct=data.discount_pct, effective_from=data.effective_from,
                          actor=actor)
    db.commit()
    return {"id": str(row.id), "name": row.name, "discount_pct": row.discount_pct}


@router.post("/billing/estimates", response_model=schemas.EstimateOut)
def make_estimate(data: schemas.EstimateIn,
                  actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                  db: Session = Depends(get_db)) -> schemas.EstimateOut:
    """The expected cost of a planned course, each line with its basis. Nothing is stored."""
    site = service.site_by_code(db, data.site, actor)
    result = service.make_estimate(db=db, data=data, actor=actor,
                                   today=utcnow().astimezone(zone_of(site)).date())
    db.commit()
    return service.estimate_out(result)


@router.post("/treatment-sessions/{session_id}/invoice", response_model=schemas.InvoiceOut,
             status_code=201)
def charge(session_id: str, actor: Actor = Depends(require(Permission.BILLING_RECORD)),
           db: Session = Depends(get_db)) -> schemas.InvoiceOut:
    """Charge a closed treatment session at the day's prices (once)."""
    invoice = charges.charge_session(db=db, session=service.session_at(db, session_id, actor),
                                     actor=actor)
    db.commit()
    return service.invoice_out(db, invoice)


@router.get("/invoices/{invoice_id}/superbill.pdf")
def superbill_pdf(invoice_id: str, actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                  db: Session = Depends(get_db)) -> Response:
    """The superbill of an invoice, for the patient's insurer."""
    invoice = service.invoice_at(db, invoice_id, actor)
    body = superbill.render(db, invoice)
    db.commit()
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="superbill-{invoice.service_date}.pdf"'})


@router.post("/patients/{patient_id}/payments", status_code=201)
def record_payment(patient_id: str, data: schemas.PaymentIn,
                   actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                   db: Session = Depends(get_db)) -> dict[str, object]:
    """Money received from or for a patient."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="record a payment")
    row = payments.record(db=db, site=service.site_by_code(db, data.site, actor), patient=patient,
                          amount_cents=data.amount_cents, method=data.method,
                          reference=data.reference, note=data.note, actor=actor)
    balance = payments.balance_cents(db, patient)
    db.commit()
    return {"id": str(row.id), "amount_cents": row.amount_cents, "balance_cents": balance}


@router.get("/patients/{patient_id}/account", response_model=schemas.AccountOut)
def account(patient_id: str, actor: Actor = Depends(require(Permission.BILLING_RECORD)),
            db: Session = Depends(get_db)) -> schemas.AccountOut:
    """Invoices, payments and the balance."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="account")
    found = service.account(db, patient)
    result = schemas.AccountOut(
        currency=found["currency"], charged_cents=found["charged_cents"],
        paid_cents=found["paid_cents"], balance_cents=found["balance_cents"],
        invoices=[service.invoice_out(db, i) for i in found["invoices"]],
        payments=[{"id": str(p.id), "amount_cents": p.amount_cents, "method": p.method,
                   "received_at": p.received_at.isoformat()} for p in found["payments"]],
        as_of=utcnow())
    db.commit()
    return result
