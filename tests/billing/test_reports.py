"""Billing reports: revenue per route, outstanding balances, cost per responder and the claims
CSV with its documented columns."""

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.billing import reports
from ketaclinic.patients.models import Patient
from tests.billing.test_billing_web import price_list
from tests.billing.test_charges import closed_iv_session


def test_revenue_outstanding_claims_and_cost_per_responder(api, world, db: Session) -> None:
    price_list(api)
    desk, admin = api["frontdesk"], api["admin"]
    sessions = [closed_iv_session(db, minutes=m) for m in (40, 100)]
    for session in sessions:
        assert desk.post(f"/api/v1/treatment-sessions/{session.id}/invoice").status_code == 201
    patient_id = db.execute(select(Patient.id).where(Patient.pk == sessions[0].patient_pk)
                            ).scalar_one()
    desk.post(f"/api/v1/patients/{patient_id}/coverages", json={
        "payer": "Acme Health", "member_id": "AH-9", "routes": ["iv"], "expected_pct": 0})
    desk.post(f"/api/v1/patients/{patient_id}/payments", json={
        "site": "A", "amount_cents": 50000, "method": "cash"})
    today = datetime.now(ZoneInfo("America/New_York")).date()
    period = {"site": "A", "start": str(today - timedelta(days=1)), "end": str(today)}
    revenue = admin.get("/api/v1/billing/reports/revenue", params=period).json()["rows"]
    # 502.50 (40 min) + 652.50 (100 min) charged; 500.00 received in cash.
    assert {(r["kind"], r["key"]): (r["count"], r["amount_cents"]) for r in revenue} == {
        ("charged", "iv"): (2, 115500), ("received", "cash"): (1, 50000)}
    [owing] = admin.get("/api/v1/billing/reports/outstanding", params={"site": "A"}).json()["rows"]
    assert owing["balance_cents"] == 65500 and owing["patient_id"] == str(patient_id)
    claims = admin.get("/api/v1/billing/reports/claims", params={**period, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(claims.text)))
    assert list(rows[0]) == list(reports.CLAIM_COLUMNS)
    assert [r["code"] for r in rows] == ["96365", "J3490", "96365", "96366", "J3490"]
    assert {r["payer"] for r in rows} == {"Acme Health"} and rows[0]["diagnoses"] == "F33.2"
    assert sum(int(r["amount_cents"]) for r in rows) == 115500
    [cost] = admin.get("/api/v1/billing/reports/cost-per-responder", params=period).json()["rows"]
    assert cost["route"] == "iv" and cost["charged_cents"] == 115500
    assert cost["cost_per_responder_cents"] is None  # no responder measured in the period
    assert admin.get("/api/v1/billing/reports/revenue", params={"site": "A"}).status_code == 422
    assert desk.get("/api/v1/billing/reports/revenue", params=period).status_code == 403
