"""Insurance and prior authorisations: warnings before they run out, and the share an estimate
expects the payer to cover."""

from datetime import timedelta

from sqlalchemy.orm import Session

from ketaclinic import clock


def test_prior_authorisation_warnings_and_the_estimates_insurance_share(api, world,
                                                                       db: Session) -> None:
    admin, desk = api["admin"], api["frontdesk"]
    for item, cents in (("G2082", 60000), ("J0013", 2500)):
        admin.post("/api/v1/billing/prices", json={"site": "A", "item": item,
                                                   "amount_cents": cents,
                                                   "effective_from": "2026-01-01"})
    patient = world.patients["p_a1"]
    base = {"site": "A", "route": "esketamine", "sessions": 8, "dose_mg": 56,
            "patient_id": patient}
    self_pay = desk.post("/api/v1/billing/estimates", json=base).json()
    # By hand: per session 600.00 + 56 x 25.00 = 2,000.00; eight = 16,000.00; all self-pay.
    assert self_pay["total_cents"] == 1600000 and self_pay["insurance_expected_cents"] == 0
    assert "self-pay" in self_pay["insurance_basis"]
    bad = desk.post(f"/api/v1/patients/{patient}/coverages", json={
        "payer": "Acme Health", "member_id": "X1", "routes": ["teleport"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "routes"
    cover = desk.post(f"/api/v1/patients/{patient}/coverages", json={
        "payer": "Acme Health", "plan": "PPO Gold", "member_id": "AH-123456",
        "routes": ["esketamine"], "expected_pct": 80}).json()
    pending = desk.post("/api/v1/billing/estimates", json=base).json()
    assert pending["insurance_expected_cents"] == 0
    assert "no approved prior authorisation" in pending["insurance_basis"]
    today = clock.today("America/New_York")  # the patient's site (A)
    incomplete = desk.post(f"/api/v1/patients/{patient}/coverages/{cover['id']}/authorizations",
                           json={"route": "esketamine", "status": "approved"})
    assert incomplete.status_code == 422
    approved = desk.post(f"/api/v1/patients/{patient}/coverages/{cover['id']}/authorizations",
                         json={"route": "esketamine", "status": "approved", "number": "PA-77",
                               "starts_on": str(today - timedelta(days=30)),
                               "ends_on": str(today + timedelta(days=10)),
                               "sessions_authorised": 8})
    assert approved.status_code == 201, approved.text
    [state] = approved.json()["authorizations"]
    assert state["sessions_left"] == 8
    assert state["warnings"] == [f"expires in 10 days ({today + timedelta(days=10)})"]
    covered = desk.post("/api/v1/billing/estimates", json={**base, "on": str(today)}).json()
    # 80 % of 16,000.00 expected from the payer; the patient pays 3,200.00.
    assert covered["insurance_expected_cents"] == 1280000
    assert covered["patient_pays_cents"] == 320000 and "PA-77" in covered["insurance_basis"]
    too_many = desk.post("/api/v1/billing/estimates", json={**base, "sessions": 9,
                                                            "on": str(today)}).json()
    assert too_many["insurance_expected_cents"] == 0
    assert api["nurse_a"].get(f"/api/v1/patients/{patient}/coverages").status_code == 403
