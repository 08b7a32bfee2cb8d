"""The ledger and the treatment record: a session closes only when drawn = given + wasted and the
chart agrees with the ledger; a mismatch opens a discrepancy that an administrator resolves."""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.inventory.models import LedgerRow
from ketaclinic.treatments.models import TreatmentSession
from tests.conftest import PASSWORD, totp_now
from tests.inventory.helpers import expiry, stock
from tests.treatments.test_flow import post, ready_to_dose

INV = "/api/v1/inventory"


def received_vial(api, db: Session, suffix: str) -> str:
    product, cabinet, _ = stock(db, suffix)
    received = api["prescriber"].post(f"{INV}/receipts", json={
        "product_id": str(product.id), "location_id": str(cabinet.id), "lot_number": "K123",
        "expires_on": expiry(), "supplier": "Acme Pharma", "invoice": "INV-9", "count": 1})
    assert received.status_code == 201, received.text
    return received.json()[0]["id"]


def close(api, session: str):
    return post(api, "prescriber", session, "discharge/override", {
        "reason": "clinical criteria reviewed at the chair", "escort_present": True,
        "driving_warning_given": True})


def test_draw_dose_waste_then_the_session_closes(api, world, db: Session) -> None:
    vial = received_vial(api, db, "ok")
    session = ready_to_dose(api, world, db)
    dose = {"dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"}
    undrawn = post(api, "nurse_a", session, "dose/start", dose)
    assert undrawn.status_code == 422, undrawn.text
    assert undrawn.json()["errors"][0]["field"] == "dose_mg"
    assert "only 0 mg is drawn" in undrawn.json()["errors"][0]["message"]
    movement = {"container_id": vial, "session_id": session}
    assert api["nurse_a"].post(f"{INV}/draws", json={**movement, "quantity_mg": "40"}
                               ).status_code == 201
    wrong_lot = post(api, "nurse_a", session, "dose/start", {**dose, "lot_number": "Z9"})
    assert wrong_lot.status_code == 422 and wrong_lot.json()["errors"][0]["field"] == "lot_number"
    assert post(api, "nurse_a", session, "dose/start", dose).status_code == 200
    figures = api["nurse_a"].get(f"{INV}/sessions/{session}/reconciliation").json()
    assert (figures["drawn_mg"], figures["given_mg"], figures["held_mg"]) == (
        "40.000", "35.000", "5.000")
    assert figures["problems"] == ["5 mg drawn is neither given nor wasted "
                                   "(drawn 40 = given 35 + wasted 0)"]
    wasted = api["nurse_a"].post(f"{INV}/wastes", json={
        **movement, "quantity_mg": "5",
        "witness": {"username": "prescriber", "password": PASSWORD,
                    "totp_code": totp_now(world.users["prescriber"])}})
    assert wasted.status_code == 201, wasted.text
    assert api["nurse_a"].get(f"{INV}/sessions/{session}/reconciliation").json()["problems"] == []
    closed = close(api, session)
    assert closed.status_code == 200 and closed.json()["status"] == "discharged"
    assert api["admin"].get(f"{INV}/discrepancies").json() == []
    late = api["nurse_a"].post(f"{INV}/draws", json={**movement, "quantity_mg": "1"})
    assert late.status_code == 409 and "closed" in late.text
    # The audit trail lists every ledger entry (receive, draw, dose, waste).
    txns = {str(t) for t in db.execute(select(LedgerRow.txn_id).distinct()).scalars()}
    audited = set(db.execute(select(AuditEvent.record_id).where(
        AuditEvent.record_type == "LedgerTxn")).scalars())
    assert len(txns) == 4 and txns <= audited


def test_a_mismatch_blocks_closing_alerts_the_admin_and_needs_a_reason(api, web, world,
                                                                       db: Session) -> None:
    vial = received_vial(api, db, "gap")
    session = ready_to_dose(api, world, db)
    movement = {"container_id": vial, "session_id": session}
    api["nurse_a"].post(f"{INV}/draws", json={**movement, "quantity_mg": "50"})
    post(api, "nurse_a", session, "dose/start",
         {"dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"})
    refused = close(api, session)
    assert refused.status_code == 409
    assert "15 mg drawn is neither given nor wasted" in refused.json()["detail"]
    row = db.execute(select(TreatmentSession).where(TreatmentSession.id == uuid.UUID(session))
                     ).scalar_one()
    assert row.status == "open"
    assert close(api, session).status_code == 409  # refused again, no second discrepancy
    [opened] = api["admin"].get(f"{INV}/discrepancies").json()
    assert opened["kind"] == "session" and "15 mg drawn" in opened["detail"]
    assert opened["resolved_at"] is None
    dashboard = web["admin"].get("/dashboard?site=A")
    assert "1 open discrepancy" in dashboard.text
    assert api["nurse_a"].get(f"{INV}/discrepancies").status_code == 403
    resolution = f"{INV}/discrepancies/{opened['id']}/resolution"
    assert api["admin"].post(resolution, json={"reason": "lost"}).status_code == 422
    assert api["nurse_a"].post(resolution, json={"reason": "x" * 20}).status_code == 403
    resolved = api["admin"].post(resolution, json={
        "reason": "Syringe dropped and not recovered; staff interviewed, no diversion found",
        "witness": {"username": "nurse_a", "password": PASSWORD}})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolved_by"] == "admin" and resolved.json()["resolution_txn"]
    figures = api["nurse_a"].get(f"{INV}/sessions/{session}/reconciliation").json()
    assert figures["lost_mg"] == "15.000" and figures["problems"] == []
    assert close(api, session).status_code == 200
    kept = api["admin"].get(f"{INV}/discrepancies", params={"include_resolved": True}).json()
    assert [d["id"] for d in kept] == [opened["id"]]
    actions = set(db.execute(select(AuditEvent.action)).scalars())
    assert {"inventory discrepancy", "resolve", "inventory loss"} <= actions


def test_chart_and_ledger_disagreeing_is_a_discrepancy_resolved_by_reason(api, world,
                                                                          db: Session) -> None:
    vial = received_vial(api, db, "chart")
    session = ready_to_dose(api, world, db)
    movement = {"container_id": vial, "session_id": session}
    api["nurse_a"].post(f"{INV}/draws", json={**movement, "quantity_mg": "40"})
    post(api, "nurse_a", session, "dose/start",
         {"dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"})
    # A second dose entry straight into the ledger: the chart still says 35 mg.
    api["nurse_a"].post(f"{INV}/doses", json={**movement, "quantity_mg": "5",
                                              "prescriber": "prescriber"})
    refused = close(api, session)
    assert refused.status_code == 409
    assert "the chart says 35 mg given; the ledger says 40 mg" in refused.json()["detail"]
    [opened] = api["admin"].get(f"{INV}/discrepancies").json()
    answer = api["admin"].post(f"{INV}/discrepancies/{opened['id']}/resolution", json={
        "reason": "Top-up of 5 mg ordered verbally; chart addendum to follow"})
    assert answer.status_code == 200 and answer.json()["resolution_txn"] is None
    assert close(api, session).status_code == 200


def test_someone_involved_cannot_resolve_their_own_discrepancy(api, world, db: Session) -> None:
    vial = received_vial(api, db, "self")
    session = ready_to_dose(api, world, db)
    api["prescriber"].post(f"{INV}/draws", json={"container_id": vial, "session_id": session,
                                                 "quantity_mg": "50"})
    post(api, "nurse_a", session, "dose/start",
         {"dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"})
    close(api, session)
    [opened] = api["admin"].get(f"{INV}/discrepancies").json()
    own = api["prescriber"].post(f"{INV}/discrepancies/{opened['id']}/resolution",
                                 json={"reason": "I drew it and it is fine"})
    assert own.status_code == 403
