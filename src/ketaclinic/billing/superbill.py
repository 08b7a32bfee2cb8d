"""The superbill: an itemised statement a patient can send to their insurer (fpdf2)."""

from fpdf import FPDF
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.billing import charges, payments
from ketaclinic.billing.models import Invoice, Payment
from ketaclinic.clinics.models import Site
from ketaclinic.patients.models import Patient


def money(cents: int, currency: str) -> str:
    """An amount for people: 1,234.50 USD."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d} {currency}"


def _text(value: str) -> str:
    return value.encode("latin-1", "replace").decode("latin-1")


def render(db: Session, invoice: Invoice) -> bytes:
    """The superbill of one invoice as PDF."""
    site = db.get(Site, invoice.site_pk)
    patient = db.get(Patient, invoice.patient_pk)
    assert site is not None and patient is not None
    pdf = FPDF(format="Letter")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, "Superbill (statement for insurance reimbursement)", new_x="LMARGIN",
             new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    facts = [
        ("Provider", f"{invoice.provider}, {site.name}"),
        ("Address", site.address or site.name),
        ("DEA / site", site.dea_registration or site.code),
        ("Patient", f"{patient.family_name}, {patient.given_name}"),
        ("Date of birth", patient.birth_date.isoformat()),
        ("Patient address", patient.address or "not recorded"),
        ("Date of service", invoice.service_date.isoformat()),
        ("Invoice", str(invoice.id)),
        ("Diagnoses (ICD-10-CM)", ", ".join(invoice.diagnoses) or "none recorded"),
    ]
    for label, value in facts:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(55, 6, label)
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 6, _text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 9)
    with pdf.table(col_widths=(18, 14, 80, 12, 30, 30), text_align="LEFT") as table:
        table.row(["Code", "System", "Description", "Units", "Unit price", "Amount"])
        for line in charges.lines_of(db, invoice):
            table.row([line.code, line.code_system, _text(line.description), str(line.units),
                       money(line.unit_price_cents, invoice.currency),
                       money(line.amount_cents, invoice.currency)])
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, f"Total charged: {money(invoice.total_cents, invoice.currency)}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(0, 4, "Codes: CPT and HCPCS as charged on the date of service. Submit this "
                   "statement to your insurer with your claim form; it is not a claim itself.")
    return bytes(pdf.output())


def receipt(db: Session, payment: Payment) -> bytes:
    """A receipt for one payment, with the balance after it."""
    site = db.get(Site, payment.site_pk)
    patient = db.get(Patient, payment.patient_pk)
    assert site is not None and patient is not None
    pdf = FPDF(format="Letter")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, "Receipt", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for label, value in (("From", f"{patient.family_name}, {patient.given_name}"),
                         ("Received by", f"{site.name}, {site.address or site.code}"),
                         ("Date", clock.date_in(payment.received_at,
                                                site.time_zone).isoformat()),
                         ("Amount", money(payment.amount_cents, payment.currency)),
                         ("Method", payment.method + (f" ({payment.reference})"
                                                      if payment.reference else "")),
                         ("Receipt", str(payment.id)),
                         ("Balance after this payment",
                          money(payments.balance_cents(db, patient), payment.currency))):
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(55, 7, label)
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 7, _text(value), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
