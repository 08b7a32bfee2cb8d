"""Billing reports: revenue per route, outstanding balances, cost per responder, and the claims
export (one documented CSV row per charge line)."""

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.billing.models import ChargeLine, Coverage, Invoice, Payment
from ketaclinic.clinics.models import Site
from ketaclinic.measures import outcomes
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import TreatmentSession

# The claims export's columns and what each holds (the contract for whoever reads the file).
CLAIM_COLUMNS = {
    "invoice_id": "the invoice's id (one claim per invoice)",
    "service_date": "date of service, the site's local date (YYYY-MM-DD)",
    "patient_family_name": "patient's family name",
    "patient_given_name": "patient's given name",
    "patient_birth_date": "patient's date of birth (YYYY-MM-DD)",
    "payer": "the patient's active insurer, if any",
    "member_id": "the member id with that insurer",
    "provider": "the ordering prescriber",
    "site": "the site's code",
    "diagnoses": "ICD-10-CM codes, separated by '|', primary first",
    "code": "CPT or HCPCS code",
    "code_system": "CPT or HCPCS",
    "units": "units billed",
    "unit_price_cents": "price per unit in cents, as charged that day",
    "amount_cents": "units x unit price, in cents",
    "currency": "ISO 4217 currency code",
}


def _invoices(db: Session, site: Site, start: datetime, end: datetime) -> list[Any]:
    return list(db.execute(select(Invoice, TreatmentSession.route).outerjoin(
        TreatmentSession, TreatmentSession.pk == Invoice.session_pk).where(
        Invoice.site_pk == site.pk, Invoice.service_date >= start.date(),
        Invoice.service_date < end.date())).all())


def revenue(db: Session, site: Site, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Charged per route, and payments received per method, in the period."""
    per_route: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for invoice, route in _invoices(db, site, start, end):
        per_route[route or "other"][0] += 1
        per_route[route or "other"][1] += invoice.total_cents
    rows = [{"kind": "charged", "key": route, "count": n, "amount_cents": cents}
            for route, (n, cents) in sorted(per_route.items())]
    received = db.execute(select(Payment.method, func.count(), func.sum(Payment.amount_cents))
                          .where(Payment.site_pk == site.pk, Payment.received_at >= start,
                                 Payment.received_at < end).group_by(Payment.method)).all()
    rows += [{"kind": "received", "key": method, "count": n, "amount_cents": int(cents)}
             for method, n, cents in sorted(received)]
    return rows


def outstanding(db: Session, site: Site) -> list[dict[str, Any]]:
    """Patients of the site who owe money, largest balance first."""
    charged = dict(db.execute(select(Invoice.patient_pk, func.sum(Invoice.total_cents)).where(
        Invoice.site_pk == site.pk).group_by(Invoice.patient_pk)).all())
    paid = dict(db.execute(select(Payment.patient_pk, func.sum(Payment.amount_cents)).where(
        Payment.site_pk == site.pk).group_by(Payment.patient_pk)).all())
    owing = {pk: int(c) - int(paid.get(pk) or 0) for pk, c in charged.items()}
    owing = {pk: b for pk, b in owing.items() if b > 0}
    people = {p.pk: p for p in db.execute(select(Patient).where(
        Patient.pk.in_(list(owing)))).scalars()} if owing else {}
    return sorted(({"patient": f"{people[pk].family_name}, {people[pk].given_name}",
                    "patient_id": str(people[pk].id), "charged_cents": int(charged[pk]),
                    "paid_cents": int(paid.get(pk) or 0), "balance_cents": balance}
                   for pk, balance in owing.items()), key=lambda r: -r["balance_cents"])


def cost_per_responder(db: Session, site: Site, start: datetime,
                       end: datetime) -> list[dict[str, Any]]:
    """Per route: what was charged, how many courses responded, and the cost per responder."""
    charged: dict[str, int] = defaultdict(int)
    for invoice, route in _invoices(db, site, start, end):
        charged[route or "other"] += invoice.total_cents
    responders: dict[str, int] = defaultdict(int)
    courses: dict[str, int] = defaultdict(int)
    for row in outcomes.compute(db=db, site_pks={site.pk}, since=start, until=end):
        responders[row.route] += row.response.count
        courses[row.route] += row.courses
    return [{"route": route, "charged_cents": charged[route], "courses": courses[route],
             "responders": responders[route],
             "cost_per_responder_cents": charged[route] // responders[route]
             if responders[route] else None,
             "basis": "response: a fall of at least 50 % on the course's primary instrument "
                      "(measures.toml)"}
            for route in sorted(set(charged) | set(responders))]


def claims(db: Session, site: Site, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One row per charge line of the period's invoices, in CLAIM_COLUMNS."""
    rows = []
    for invoice, _ in sorted(_invoices(db, site, start, end),
                             key=lambda r: (r[0].service_date, r[0].pk)):
        patient = db.get(Patient, invoice.patient_pk)
        assert patient is not None
        cover = db.execute(select(Coverage).where(Coverage.patient_pk == patient.pk,
                                                  Coverage.active.is_(True))
                           .order_by(Coverage.pk)).scalars().first()
        for line in db.execute(select(ChargeLine).where(ChargeLine.invoice_pk == invoice.pk)
                               .order_by(ChargeLine.pk)).scalars():
            rows.append({
                "invoice_id": str(invoice.id), "service_date": invoice.service_date,
                "patient_family_name": patient.family_name,
                "patient_given_name": patient.given_name,
                "patient_birth_date": patient.birth_date, "payer": cover.payer if cover else "",
                "member_id": cover.member_id if cover else "", "provider": invoice.provider,
                "site": site.code, "diagnoses": "|".join(invoice.diagnoses), "code": line.code,
                "code_system": line.code_system, "units": line.units,
                "unit_price_cents": line.unit_price_cents, "amount_cents": line.amount_cents,
                "currency": invoice.currency})
    return rows
