"""The ledger over /api/v1/inventory: roles, reach, witnesses, balances."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.treatments.models import TreatmentSession
from tests.conftest import PASSWORD, totp_now
from tests.inventory.helpers import expiry, sessions, stock


def test_receive_draw_give_waste_adjust_reverse(api, world, db: Session) -> None:
    product, cabinet, _ = stock(db, "api")
    [session_pk] = sessions(db, 1)
    session_id = str(db.execute(select(TreatmentSession.id).where(
        TreatmentSession.pk == session_pk)).scalar_one())
    before = (clock.now() - timedelta(seconds=1)).isoformat()
    received = api["prescriber"].post("/api/v1/inventory/receipts", json={
        "product_id": str(product.id), "location_id": str(cabinet.id), "lot_number": "K123",
        "expires_on": expiry(), "supplier": "Acme Pharma", "invoice": "INV-9", "count": 2})
    assert received.status_code == 201, received.text
    vial = received.json()[0]
    assert vial["quantity_mg"] == "500.000" and vial["location"] == cabinet.name
    nurse = api["nurse_a"]
    movement = {"container_id": vial["id"], "session_id": session_id}
    assert nurse.post("/api/v1/inventory/draws", json={**movement, "quantity_mg": "50"}
                      ).status_code == 201
    assert nurse.post("/api/v1/inventory/doses", json={**movement, "quantity_mg": "35",
                                                       "prescriber": "prescriber"}).status_code == 201
    unwitnessed = nurse.post("/api/v1/inventory/wastes", json={**movement, "quantity_mg": "15"})
    assert unwitnessed.status_code == 422 and "witness" in unwitnessed.text
    same_person = nurse.post("/api/v1/inventory/wastes", json={
        **movement, "quantity_mg": "15",
        "witness": {"username": "nurse_a", "password": PASSWORD}})
    assert same_person.status_code == 422
    wrong_password = nurse.post("/api/v1/inventory/wastes", json={
        **movement, "quantity_mg": "15", "witness": {"username": "nurse_b", "password": "nope"}})
    assert wrong_password.status_code == 403
    elsewhere = nurse.post("/api/v1/inventory/wastes", json={
        **movement, "quantity_mg": "15", "witness": {"username": "nurse_b", "password": PASSWORD}})
    assert elsewhere.status_code == 422 and "does not work at this site" in elsewhere.text
    wasted = nurse.post("/api/v1/inventory/wastes", json={
        **movement, "quantity_mg": "15",
        "witness": {"username": "prescriber", "password": PASSWORD,
                    "totp_code": totp_now(world.users["prescriber"])}})
    assert wasted.status_code == 201, wasted.text
    overdrawn = nurse.post("/api/v1/inventory/doses", json={**movement, "quantity_mg": "1"})
    assert overdrawn.status_code == 409 and "drawn for this session" in overdrawn.text
    held = {c["id"]: c["quantity_mg"] for c in nurse.get("/api/v1/inventory/containers").json()}
    assert held[vial["id"]] == "450.000"
    adjusted = api["prescriber"].post("/api/v1/inventory/adjustments", json={
        "container_id": vial["id"], "delta_mg": "-0.5", "reason": "count found 449.5 mg",
        "witness": {"username": "nurse_a", "password": PASSWORD}})
    assert adjusted.status_code == 201, adjusted.text
    undone = api["prescriber"].post(
        f"/api/v1/inventory/transactions/{adjusted.json()['txn_id']}/reversal",
        json={"reason": "recount found 450 mg", "witness": {"username": "nurse_a",
                                                            "password": PASSWORD}})
    assert undone.status_code == 201
    again = api["prescriber"].post(
        f"/api/v1/inventory/transactions/{adjusted.json()['txn_id']}/reversal",
        json={"reason": "recount found 450 mg", "witness": {"username": "nurse_a",
                                                            "password": PASSWORD}})
    assert again.status_code == 409
    earlier = api["prescriber"].get("/api/v1/inventory/inventory", params={"as_of": before}).json()
    assert earlier["rows"] == [] and earlier["total_mg"] == "0"
    now = api["prescriber"].get("/api/v1/inventory/inventory").json()
    assert now["total_mg"] == "950.000" and {r["container"] for r in now["rows"]} == {
        vial["label"], received.json()[1]["label"]}


def test_roles_and_sites(api, world, db: Session) -> None:
    product, cabinet, _ = stock(db, "roles")
    [session_pk] = sessions(db, 1)
    session_id = str(db.execute(select(TreatmentSession.id).where(
        TreatmentSession.pk == session_pk)).scalar_one())
    receipt = {"product_id": str(product.id), "location_id": str(cabinet.id), "lot_number": "K",
               "expires_on": expiry(), "supplier": "S", "invoice": "I", "count": 1}
    assert api["nurse_a"].post("/api/v1/inventory/receipts", json=receipt).status_code == 403
    assert api["frontdesk"].get("/api/v1/inventory/containers").status_code == 403
    assert api["patient_a1"].get("/api/v1/inventory/containers").status_code == 403
    vial = api["admin"].post("/api/v1/inventory/receipts", json=receipt).json()[0]
    elsewhere = api["nurse_b"].post("/api/v1/inventory/draws", json={
        "container_id": vial["id"], "session_id": session_id, "quantity_mg": "10"})
    assert elsewhere.status_code == 404
    bad = api["nurse_a"].post("/api/v1/inventory/draws", json={
        "container_id": vial["id"], "session_id": session_id, "quantity_mg": "-3"})
    assert bad.status_code == 422 and "quantity_mg" in bad.text
