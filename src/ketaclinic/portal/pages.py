"""The patient's portal on their own record: upcoming appointments, documents (superbills,
receipts, consents), their progress charts, and a message to the clinic. Everything is looked
up through the logged-in patient; another patient's ids answer 404."""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.billing import estimate as estimates
from ketaclinic.billing import payments, superbill
from ketaclinic.billing import service as billing
from ketaclinic.chart.pages import OWN_RECORD_EXTRAS, chart_page
from ketaclinic.clinics import service as clinics
from ketaclinic.courses import service as courses
from ketaclinic.decision.models import Enquiry
from ketaclinic.errors import DomainError, InvalidInput, invalid
from ketaclinic.evaluations import service as evaluations
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.knowledge import appointments as kinds
from ketaclinic.measures import links
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import service as scheduling
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM, form_action
from ketaclinic.web.one_thread import OneTripRoute

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)


def own_record_extras(db: Session, patient: Patient) -> dict[str, Any]:
    """What the portal adds to a patient's own chart: questionnaires to answer, and the rest."""
    return {"pending_questionnaires": links.pending_for(db, patient.pk),
            "portal": context(db, patient)}


OWN_RECORD_EXTRAS[:] = [own_record_extras]


@router.get("/me", response_class=HTMLResponse)
def my_record(
    request: Request,
    actor: Actor = Depends(require(Permission.PORTAL)),
    db: Session = DB,
) -> Response:
    """The logged-in patient's own record."""
    patient = patients.chart(db=db, patient_id=str(patients.own_record(db, actor).id), actor=actor)
    return chart_page(request, db, actor, patient)


@router.post("/me/messages", response_class=HTMLResponse)
def my_message(request: Request, actor: Actor = Depends(require(Permission.PORTAL)),
               db: Session = DB, form: FormData = FORM) -> Response:
    """Send a message to the clinic from the portal; the page again with the error if empty."""
    own_id = str(patients.own_record(db, actor).id)
    patient = patients.chart(db=db, patient_id=own_id, actor=actor)
    return form_action(db, lambda: send_message(
        db=db, patient=patient, text=str(form.get("message", "")), actor=actor),
        done="/me?sent=1",
        again=lambda errors, status: chart_page(
            request, db, actor, patients.chart(db=db, patient_id=own_id, actor=actor),
            status_code=status, message_error=errors[0]),
        refusals=(InvalidInput,))


def context(db: Session, patient: Patient) -> dict[str, Any]:
    """What the portal shows beside the patient's own record."""
    upcoming = scheduling.upcoming_of_patient(db, patient, clock.now())
    invoices = billing.invoices_of(db, patient)
    paid = billing.payments_of(db, patient)
    consents = evaluations.consents_of(db, patient)
    return {"upcoming": [(a, s, kinds.kind(a.kind).label) for a, s in upcoming],
            "consents": consents, "estimate": course_estimate(db, patient),
            "invoices": invoices, "receipts": paid,
            "balance_cents": payments.balance_cents(db, patient), "money": superbill.money}


def course_estimate(db: Session, patient: Patient) -> Any:
    """The cost of the patient's current course at their site's prices (None if it cannot be
    worked out: no course, no price list)."""
    planned = courses.courses_of(db, patient.pk, planned_only=True)
    course = max(planned, key=lambda c: c.pk) if planned else None
    if course is None or not patient.site_pks or course.route not in ("iv", "esketamine", "im"):
        return None
    site = clinics.site_by_pk(db, sorted(patient.site_pks)[0])
    dose = course.dose
    try:
        return estimates.estimate(db=db, site=site, route=course.route,
                                  sessions=len(course.sessions) or 1,
                                  on=clock.today(site.time_zone),
                                  weight_kg=dose.weight_kg if dose else None,
                                  dose_mg=dose.dose_mg if dose else None)
    except DomainError:
        return None


@router.get("/me/invoices/{invoice_id}/superbill.pdf")
def my_superbill(invoice_id: str, actor: Actor = Depends(require(Permission.PORTAL)),
                 db: Session = DB) -> Response:
    """My superbill for one visit."""
    patient = patients.own_record(db, actor)
    invoice = billing.invoice_of_patient(db, patient, invoice_id)
    body = superbill.render(db, invoice)
    audit.record(db=db, actor=actor, action="read", record_type="Invoice", record_id=invoice.id,
                 patient_id=patient.id, detail="superbill downloaded from the portal")
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="superbill-{invoice.service_date}.pdf"'})


@router.get("/me/payments/{payment_id}/receipt.pdf")
def my_receipt(payment_id: str, actor: Actor = Depends(require(Permission.PORTAL)),
               db: Session = DB) -> Response:
    """My receipt for one payment."""
    patient = patients.own_record(db, actor)
    found = billing.payment_of_patient(db, patient, payment_id)
    body = superbill.receipt(db, found)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="receipt-{found.id}.pdf"'})


def send_message(*, db: Session, patient: Patient, text: str, actor: Actor) -> Enquiry:
    """A message from the patient to the clinic (it lands in the clinic's inbox)."""
    if not 2 <= len(text.strip()) <= 4000:
        raise invalid("message", "write a message", "2 to 4,000 characters")
    message = Enquiry(patient_pk=patient.pk, name=f"{patient.given_name} {patient.family_name}",
                      contact=patient.email or patient.phone or "portal", message=text.strip(),
                      received_at=clock.now(), created_by=actor.username,
                      site_pk=sorted(patient.site_pks)[0] if patient.site_pks else None)
    db.add(message)
    db.flush()
    return message
