"""The patient portal: a patient sees their appointments, documents and progress, can message
the clinic, and no portal URL with another patient's ids gives any of that patient's data."""

import re
import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.billing import charges, payments
from ketaclinic.billing.models import Invoice
from ketaclinic.clinics.models import Site
from ketaclinic.decision.models import Enquiry
from ketaclinic.kernel.permissions import Role, allows
from ketaclinic.patients.models import Patient
from ketaclinic.web.deps import BEARER_PREFIXES
from ketaclinic.web.routes import registered_routes
from tests.billing.test_charges import DESK, closed_iv_session, price_list
from tests.conftest import csrf_of


def test_portal_shows_my_things_and_never_another_patients(app, web, world, db: Session) -> None:
    site = db.execute(select(Site).where(Site.code == "A")).scalar_one()
    price_list(db, site, date(2026, 1, 1))
    mine = charges.charge_session(db=db, treatment_session=closed_iv_session(db, minutes=40), actor=DESK)
    me = db.get(Patient, mine.patient_pk)
    other = db.execute(select(Patient).where(Patient.id == uuid.UUID(world.patients["p_a2"]))
                       ).scalar_one()
    session = closed_iv_session(db, minutes=40)
    session.patient_pk = other.pk
    db.flush()
    theirs = charges.charge_session(db=db, treatment_session=session, actor=DESK)
    their_payment = payments.record(db=db, site=site, patient=other, amount_cents=100,
                                    method="cash", reference="", note="", actor=DESK)
    patient = web["patient_a1"]
    page = patient.get("/me")
    assert page.status_code == 200 and 'id="portal"' in page.text
    assert f"/me/invoices/{mine.id}/superbill.pdf" in page.text
    assert other.family_name not in page.text
    assert patient.get(f"/me/invoices/{mine.id}/superbill.pdf").content.startswith(b"%PDF")
    progress = patient.get(f"/patients/{me.id}/measures")
    assert progress.status_code == 200 and me.family_name in progress.text
    assert patient.get(f"/me/invoices/{theirs.id}/superbill.pdf").status_code == 404
    assert patient.get(f"/me/payments/{their_payment.id}/receipt.pdf").status_code == 404
    empty = patient.post("/me/messages", data={"csrf_token": csrf_of(page.text), "message": " "})
    assert empty.status_code == 422 and "Message: write a message" in empty.text
    assert db.execute(select(Enquiry)).first() is None
    sent = patient.post("/me/messages", data={"csrf_token": csrf_of(page.text),
                                              "message": "Can I move my Friday session?"})
    assert sent.status_code == 200 and 'id="message-sent"' in sent.text
    assert db.execute(select(Enquiry.patient_pk)).scalar_one() == me.pk
    # Every GET route a patient's role may use, with the other patient's ids in it.
    ids = {"patient_id": str(other.id), "invoice_id": str(theirs.id),
           "payment_id": str(their_payment.id)}
    tried = 0
    for route in registered_routes(app):
        if route.method != "GET" or "{" not in route.path or route.permission is None \
                or not allows(Role.PATIENT, route.permission) or route.path.startswith(
                    BEARER_PREFIXES):
            continue
        url = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())),
                     route.path)
        response = patient.get(url)
        tried += 1
        assert response.status_code in (403, 404), (url, response.status_code)
        assert other.family_name not in response.text, url
    print(f"portal routes tried with another patient's ids: {tried}")
    assert tried >= 5
    assert db.execute(select(Invoice).where(Invoice.patient_pk == other.pk)).scalar_one()
