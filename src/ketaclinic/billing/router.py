"""JSON API for billing under /api/v1: the price list, estimates, charging sessions, superbills,
payments and a patient's account."""


from fastapi import APIRouter, Depends, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.billing import (
    charges,
    coverage,
    payments,
    prices,
    reports,
    schemas,
    service,
    superbill,
)
from ketaclinic.billing.models import Coverage, Invoice, PriorAuthorization
from ketaclinic.clinics.service import site_by_code
from ketaclinic.errors import NotFound, invalid
from ketaclinic.inventory.report_files import to_csv
from ketaclinic.inventory.report_router import local_range
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.availability import zone_of
from ketaclinic.treatments.models import TreatmentSession
from ketaclinic.web.deps import API_PREFIX, DB, found_by, require
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.wire_types import IsoDate

router = APIRouter(route_class=OneTripRoute, prefix=API_PREFIX, tags=["billing"])
# The session, invoice or payment a path names, at one of the caller's sites (404 otherwise).
SESSION = found_by(service.treatment_session_at, Permission.BILLING_RECORD, "treatment_session_id")
INVOICE = found_by(service.invoice_at, Permission.BILLING_RECORD, "invoice_id")
PAYMENT = found_by(service.payment_at, Permission.BILLING_RECORD, "payment_id")


@router.post("/billing/prices", status_code=201)
def set_price(data: schemas.PriceIn, actor: Actor = Depends(require(Permission.BILLING_MANAGE)),
              db: Session = DB) -> dict[str, object]:
    """A price for an item at a site from a date on (earlier invoices keep their prices)."""
    row = prices.set_price(db=db, site=site_by_code(db, data.site, actor), item=data.item,
                           amount_cents=data.amount_cents, effective_from=data.effective_from,
                           actor=actor)
    return {"id": str(row.id), "item": row.item, "amount_cents": row.amount_cents,
            "currency": row.currency, "effective_from": row.effective_from.isoformat()}


@router.post("/billing/packages", status_code=201)
def add_package(data: schemas.PackageIn,
                actor: Actor = Depends(require(Permission.BILLING_MANAGE)),
                db: Session = DB) -> dict[str, object]:
    """A price for a whole series of a route."""
    row = prices.add_package(db=db, site=site_by_code(db, data.site, actor),
                             name=data.name, route=data.route, sessions=data.sessions,
                             amount_cents=data.amount_cents, effective_from=data.effective_from,
                             actor=actor)
    return {"id": str(row.id), "name": row.name, "amount_cents": row.amount_cents}


@router.post("/billing/bands", status_code=201)
def add_band(data: schemas.BandIn, actor: Actor = Depends(require(Permission.BILLING_MANAGE)),
             db: Session = DB) -> dict[str, object]:
    """A sliding-scale band."""
    row = prices.add_band(db=db, site=site_by_code(db, data.site, actor), name=data.name,
                          income_up_to_cents=data.income_up_to_cents,
                          discount_pct=data.discount_pct, effective_from=data.effective_from,
                          actor=actor)
    return {"id": str(row.id), "name": row.name, "discount_pct": row.discount_pct}


@router.post("/billing/estimates", response_model=schemas.EstimateOut)
def make_estimate(data: schemas.EstimateIn,
                  actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                  db: Session = DB) -> schemas.EstimateOut:
    """The expected cost of a planned course, each line with its basis. Nothing is stored."""
    site = site_by_code(db, data.site, actor)
    result = service.make_estimate(db=db, data=data, actor=actor,
                                   today=clock.today(zone_of(site)))
    return service.estimate_out(result)


@router.post("/treatment-sessions/{treatment_session_id}/invoice", response_model=schemas.InvoiceOut,
             status_code=201)
def charge(treatment_session_id: str, actor: Actor = Depends(require(Permission.BILLING_RECORD)),
           db: Session = DB, treatment_session: TreatmentSession = SESSION) -> schemas.InvoiceOut:
    """Charge a closed treatment session at the day's prices (once)."""
    invoice = charges.charge_session(db=db, treatment_session=treatment_session, actor=actor)
    return service.invoice_out(db, invoice)


@router.get("/invoices/{invoice_id}/superbill.pdf")
def superbill_pdf(invoice_id: str, actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                  db: Session = DB, invoice: Invoice = INVOICE) -> Response:
    """The superbill of an invoice, for the patient's insurer."""
    body = superbill.render(db, invoice)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="superbill-{invoice.service_date}.pdf"'})


@router.post("/patients/{patient_id}/payments", status_code=201)
def record_payment(patient_id: str, data: schemas.PaymentIn,
                   actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                   db: Session = DB) -> dict[str, object]:
    """Money received from or for a patient."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="record a payment")
    row = payments.record(db=db, site=site_by_code(db, data.site, actor), patient=patient,
                          amount_cents=data.amount_cents, method=data.method,
                          reference=data.reference, note=data.note, actor=actor)
    balance = payments.balance_cents(db, patient)
    return {"id": str(row.id), "amount_cents": row.amount_cents, "balance_cents": balance}


@router.get("/patients/{patient_id}/account", response_model=schemas.AccountOut)
def account(patient_id: str, actor: Actor = Depends(require(Permission.BILLING_RECORD)),
            db: Session = DB) -> schemas.AccountOut:
    """Invoices, payments and the balance."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="account")
    found = service.account(db, patient)
    return schemas.AccountOut(
        currency=found["currency"], charged_cents=found["charged_cents"],
        paid_cents=found["paid_cents"], balance_cents=found["balance_cents"],
        invoices=[service.invoice_out(db, i) for i in found["invoices"]],
        payments=[{"id": str(p.id), "amount_cents": p.amount_cents, "method": p.method,
                   "received_at": p.received_at.isoformat()} for p in found["payments"]],
        as_of=clock.now())


def _coverage_out(db: Session, cover: Coverage, authorizations: list[PriorAuthorization],
                  patient: Patient) -> dict[str, object]:
    today = patients.local_today(patient)
    return {"id": str(cover.id), "payer": cover.payer, "plan": cover.plan,
            "member_id": cover.member_id, "routes": cover.routes,
            "expected_pct": cover.expected_pct, "active": cover.active,
            "authorizations": [
                {"id": str(a.id), "route": a.route, "number": a.number, "status": a.status,
                 "starts_on": a.starts_on, "ends_on": a.ends_on,
                 "sessions_authorised": a.sessions_authorised,
                 "sessions_used": (s := coverage.state(db, a, patient.pk, today)).used,
                 "sessions_left": s.remaining, "warnings": s.warnings}
                for a in authorizations]}


@router.post("/patients/{patient_id}/coverages", status_code=201)
def add_coverage(patient_id: str, data: schemas.CoverageIn,
                 actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                 db: Session = DB) -> dict[str, object]:
    """Record a patient's insurance."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="insurance")
    cover = coverage.add(db=db, patient=patient, data=data, actor=actor)
    return _coverage_out(db, cover, [], patient)


@router.get("/patients/{patient_id}/coverages")
def coverages(patient_id: str, actor: Actor = Depends(require(Permission.BILLING_RECORD)),
              db: Session = DB) -> list[dict[str, object]]:
    """A patient's insurance with each prior authorisation's use and warnings."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="insurance")
    return [_coverage_out(db, c, a, patient) for c, a in coverage.of(db, patient)]


@router.post("/patients/{patient_id}/coverages/{coverage_id}/authorizations", status_code=201)
def add_authorization(patient_id: str, coverage_id: str, data: schemas.AuthorizationIn,
                      actor: Actor = Depends(require(Permission.BILLING_RECORD)),
                      db: Session = DB) -> dict[str, object]:
    """Record a prior authorisation on a coverage."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="prior authorisation")
    cover = coverage.of_patient(db, patient, coverage_id)
    coverage.authorize(db=db, coverage=cover, data=data, actor=actor, patient=patient)
    return _coverage_out(db, cover, dict(coverage.of(db, patient))[cover], patient)


@router.get("/billing/reports/{kind}", responses={200: {
    "description": "The report, as JSON or CSV",
    "content": {"application/json": {}, "text/csv": {}}}})
def billing_report(kind: str, site: str, start: IsoDate | None = None, end: IsoDate | None = None,
                   format: str = "json",
                   actor: Actor = Depends(require(Permission.BILLING_MANAGE)),
                   db: Session = DB) -> Response:
    """revenue, outstanding, cost-per-responder or claims (the documented claims CSV)."""
    if format not in ("json", "csv"):
        raise invalid("format", repr(format), "json, csv")
    where = site_by_code(db, site, actor)
    if kind != "outstanding" and (start is None or end is None):
        raise invalid("start", "start and end are required", "dates, YYYY-MM-DD")
    begin, finish = (local_range(where, start, end) if start and end
                     else (clock.now(), clock.now()))
    makers = {"revenue": lambda: reports.revenue(db, where, begin, finish),
              "outstanding": lambda: reports.outstanding(db, where),
              "cost-per-responder": lambda: reports.cost_per_responder(db, where, begin, finish),
              "claims": lambda: reports.claims(db, where, begin, finish)}
    if kind not in makers:
        raise NotFound("no such report")
    rows = makers[kind]()
    columns = list(reports.CLAIM_COLUMNS) if kind == "claims" else (
        list(rows[0]) if rows else [])
    if format == "csv":
        return Response(to_csv(columns, rows), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{kind}-{where.code}.csv"'})
    return JSONResponse(jsonable_encoder({"rows": rows, "columns": columns,
                                          "column_meanings": reports.CLAIM_COLUMNS
                                          if kind == "claims" else {}}))
