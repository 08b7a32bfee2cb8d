"""Billing through the API and the pages: the price list, the estimate and its plain-language
version, charging a session, a deposit, the balance and the superbill; roles kept out."""

import html
import io

from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.patients.models import Patient
from tests.billing.test_charges import closed_iv_session
from tests.conftest import csrf_of


def price_list(api) -> None:
    admin = api["admin"]
    for item, cents in (("96365", 45000), ("96366", 15000), ("ketamine-mg", 150)):
        made = admin.post("/api/v1/billing/prices", json={
            "site": "A", "item": item, "amount_cents": cents, "effective_from": "2026-01-01"})
        assert made.status_code == 201, made.text
    admin.post("/api/v1/billing/packages", json={
        "site": "A", "name": "Six-infusion induction", "route": "iv", "sessions": 6,
        "amount_cents": 240000, "effective_from": "2026-06-01"})


def test_price_list_estimate_and_roles_over_the_api(api, world, db: Session) -> None:
    price_list(api)
    bad = api["admin"].post("/api/v1/billing/prices", json={
        "site": "A", "item": "99999", "amount_cents": 100, "effective_from": "2026-01-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "item"
    assert api["frontdesk"].post("/api/v1/billing/prices", json={
        "site": "A", "item": "96365", "amount_cents": 1, "effective_from": "2026-01-01"}
    ).status_code == 403
    band = api["admin"].post("/api/v1/billing/bands", json={
        "site": "A", "name": "Band B", "income_up_to_cents": 4000000, "discount_pct": 20,
        "effective_from": "2026-01-01"}).json()
    result = api["frontdesk"].post("/api/v1/billing/estimates", json={
        "site": "A", "route": "iv", "sessions": 6, "weight_kg": 80, "band_id": band["id"],
        "on": "2026-11-27"})
    assert result.status_code == 200, result.text
    assert result.json()["total_cents"] == 192000 and result.json()["per_session_cents"] == 32000
    assert api["nurse_a"].post("/api/v1/billing/estimates", json={
        "site": "A", "route": "iv", "sessions": 6, "weight_kg": 80}).status_code == 403


def test_front_desk_estimate_charge_deposit_balance_and_superbill(api, web, world,
                                                                   db: Session) -> None:
    price_list(api)
    desk = web["frontdesk"]
    page = desk.get("/billing/estimate", params={"site": "A", "route": "iv", "sessions": "6",
                                                 "weight_kg": "80"})
    assert page.status_code == 200
    plain = html.unescape(page.text.split('id="estimate-plain"')[1])
    assert "6 IV ketamine infusions at Site A" in plain and "2,400.00 USD" in plain
    assert "This is an estimate, not a bill" in plain
    wrong = desk.get("/billing/estimate", params={"site": "A", "route": "iv", "sessions": "6"})
    assert wrong.status_code == 422 and "weight_kg" in wrong.text
    session = closed_iv_session(db, minutes=40)
    patient_id = db.execute(select(Patient.id).where(Patient.pk == session.patient_pk)
                            ).scalar_one()
    account = desk.get(f"/patients/{patient_id}/account")
    assert account.status_code == 200 and 'id="uncharged"' in account.text
    csrf = csrf_of(account.text)
    no_payer = desk.post(f"/patients/{patient_id}/account/coverages", data={
        "csrf_token": csrf, "payer": "", "member_id": "M1", "routes": "esketamine"})
    assert no_payer.status_code == 422 and "payer" in no_payer.text
    insured = desk.post(f"/patients/{patient_id}/account/coverages", data={
        "csrf_token": csrf, "payer": "Acme Health", "member_id": "M1", "routes": "esketamine",
        "expected_pct": "80"})
    assert insured.status_code == 200 and "Acme Health" in insured.text
    deposit = desk.post(f"/patients/{patient_id}/account/payments", data={
        "csrf_token": csrf, "site": "A", "amount": "200.001", "method": "card"})
    assert deposit.status_code == 422 and "has more than cents" in html.unescape(deposit.text)
    paid = desk.post(f"/patients/{patient_id}/account/payments", data={
        "csrf_token": csrf, "site": "A", "amount": "200", "method": "card",
        "reference": "T-1001", "note": "deposit"})
    assert paid.status_code == 200 and "-200.00 USD" in paid.text.split('id="balance"')[1][:120]
    receipt_url = "/payments/" + paid.text.split('href="/payments/')[1].split('"')[0]
    receipt = desk.get(receipt_url)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(receipt.content)).pages)
    assert "Receipt" in text and "200.00 USD" in text and "T-1001" in text
    charged = desk.post(f"/treatment-sessions/{session.id}/charge", data={"csrf_token": csrf})
    assert charged.status_code == 200
    # 450.00 + 35 mg x 1.50 = 502.50 charged; 200.00 paid: 302.50 owed.
    assert "302.50 USD" in charged.text.split('id="balance"')[1][:200]
    again = desk.post(f"/treatment-sessions/{session.id}/charge", data={"csrf_token": csrf})
    assert again.status_code == 409 and "already been charged" in again.text
    invoice_id = charged.text.split("/invoices/")[1].split("/")[0]
    pdf = desk.get(f"/invoices/{invoice_id}/superbill.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    balance = api["frontdesk"].get(f"/api/v1/patients/{patient_id}/account").json()
    assert balance["balance_cents"] == 30250 and len(balance["invoices"]) == 1
    assert web["nurse_a"].get(f"/patients/{patient_id}/account").status_code == 403
    assert web["patient_a1"].get("/billing/estimate").status_code == 403


def test_every_out_of_range_estimate_re_shows_the_form_with_a_message(api, web) -> None:
    price_list(api)
    desk = web["frontdesk"]
    cases = [({"route": "iv", "weight_kg": "400"}, "weight"),
             ({"route": "im", "weight_kg": "5"}, "weight"),
             ({"route": "esketamine", "dose_mg": "70"}, "56 mg or 84 mg"),
             ({"route": "iv", "weight_kg": "-3"}, "weight"),
             ({"route": "iv", "weight_kg": "eighty"}, "weight"),
             ({"route": "oral", "weight_kg": "80"}, "route"),
             ({"route": "iv", "weight_kg": "80", "sessions": "0"}, "sessions")]
    for extra, message in cases:
        params = {"site": "A", "sessions": "6", **extra}
        page = desk.get("/billing/estimate", params=params)
        text = html.unescape(page.text)
        assert page.status_code == 422, (params, page.status_code, text[:300])
        assert message in text.lower() or message in text, (params, text[:2000])
        assert '<form' in text and 'id="estimate-plain"' not in text
    refused = api["frontdesk"].post("/api/v1/billing/estimates", json={
        "site": "A", "route": "esketamine", "sessions": 6, "dose_mg": 70})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "dose_mg"
