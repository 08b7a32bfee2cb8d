"""Two-person counts, products and cabinets, destruction and returns, and the reports."""

import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.inventory.models import StorageLocation
from tests.conftest import PASSWORD, totp_now
from tests.inventory.helpers import expiry
from tests.inventory.test_session_link import INV, close, received_vial
from tests.treatments.test_flow import post, ready_to_dose


def cabinet_of(api, vial: str) -> tuple[str, str]:
    [held] = [c for c in api["nurse_a"].get(f"{INV}/containers").json() if c["id"] == vial]
    return held["label"], held["location"]


def test_two_people_count_and_a_variance_opens_a_discrepancy(api, world, db: Session,
                                                           clinic_clock) -> None:
    vial = received_vial(api, db, "count")
    label, cabinet_name = cabinet_of(api, vial)
    cabinet = db.execute(select(StorageLocation).where(StorageLocation.name == cabinet_name)
                         ).scalar_one()

    def counted(**extra: object) -> dict:
        """A count with the prescriber as second counter, with a code not used before."""
        clinic_clock.shift(timedelta(seconds=30))  # each two-factor code works once
        return {"location_id": str(cabinet.id), "second_counter": {
            "username": "prescriber", "password": PASSWORD,
            "totp_code": totp_now(world.users["prescriber"])}, **extra}

    disagree = api["nurse_a"].post(f"{INV}/counts", json=counted(
        first={label: "500"}, second={label: "480"}))
    assert disagree.status_code == 422 and "the two counts differ" in disagree.text
    missing = api["nurse_a"].post(f"{INV}/counts", json=counted(first={}, second={}))
    assert missing.status_code == 422 and f"{label} was not counted by both" in missing.text
    alone = api["nurse_a"].post(f"{INV}/counts", json=counted(
        first={label: "500"}, second={label: "500"},
        second_counter={"username": "nurse_a", "password": PASSWORD}))
    assert alone.status_code == 422
    matches = api["nurse_a"].post(f"{INV}/counts", json=counted(
        first={label: "500"}, second={label: "500"}))
    assert matches.status_code == 201, matches.text
    assert matches.json()["variances"] == 0
    assert api["admin"].get(f"{INV}/discrepancies").json() == []
    short = api["nurse_a"].post(f"{INV}/counts", json=counted(
        first={label: "490"}, second={label: "490"}))
    assert short.json()["variances"] == 1
    [opened] = api["admin"].get(f"{INV}/discrepancies").json()
    assert opened["kind"] == "count" and "counted 490 mg; the ledger says 500 mg" in opened["detail"]
    # The counters cannot resolve it; the administrator corrects the ledger with a witness.
    resolved = api["admin"].post(f"{INV}/discrepancies/{opened['id']}/resolution", json={
        "reason": "Vial found with 10 mg less; evaporation through the septum, reported",
        "witness": {"username": "nurse_a", "password": PASSWORD}})
    assert resolved.status_code == 200, resolved.text
    assert cabinet_of(api, vial) == (label, cabinet_name)
    [held] = [c for c in api["nurse_a"].get(f"{INV}/containers").json() if c["id"] == vial]
    assert held["quantity_mg"] == "490.000"
    today = clock.now().date()
    draft = api["admin"].get(f"{INV}/reports/form-106", params={
        "site": "A", "start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1))})
    assert draft.status_code == 200
    [item] = draft.json()["rows"]
    assert item["quantity_mg"] == "10.000" and item["status"].startswith("resolved")


def test_products_cabinets_destruction_and_return(api, world, db: Session) -> None:
    product = {"name": "Spravato 28 mg nasal spray device", "drug": "esketamine",
               "ndc": "50458-028-00", "mg_per_container": "28", "devices_per_container": 1}
    assert api["nurse_a"].post(f"{INV}/products", json=product).status_code == 403
    made = api["admin"].post(f"{INV}/products", json=product)
    assert made.status_code == 201, made.text
    assert api["admin"].post(f"{INV}/products", json=product).status_code == 409
    bad = api["admin"].post(f"{INV}/products", json={**product, "ndc": "50458", "drug": "x"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"ndc", "drug"}
    no_devices = api["admin"].post(f"{INV}/products", json={
        **product, "ndc": "50458-028-02", "devices_per_container": 0})
    assert no_devices.status_code == 422
    cabinet = api["admin"].post(f"{INV}/cabinets", json={"site": "a", "name": "Med room safe"})
    assert cabinet.status_code == 201 and cabinet.json()["site"] == "A"
    assert api["admin"].post(f"{INV}/cabinets", json={"site": "Z", "name": "x"}).status_code == 422
    assert [c["name"] for c in api["nurse_a"].get(f"{INV}/cabinets").json()] == ["Med room safe"]
    received = api["admin"].post(f"{INV}/receipts", json={
        "product_id": made.json()["id"], "location_id": cabinet.json()["id"], "lot_number": "E1",
        "expires_on": expiry(), "supplier": "Specialty Distributor", "invoice": "S-1",
        "count": 2})
    first, second = (c["id"] for c in received.json())
    assert received.json()[0]["devices"] == 1
    unwitnessed = api["admin"].post(f"{INV}/destructions", json={
        "container_id": first, "reason": "device damaged, expired"})
    assert unwitnessed.status_code == 422
    destroyed = api["admin"].post(f"{INV}/destructions", json={
        "container_id": first, "reason": "device damaged; destroyed on site",
        "witness": {"username": "nurse_a", "password": PASSWORD}})
    assert destroyed.status_code == 201
    returned = api["admin"].post(f"{INV}/returns", json={
        "container_id": second, "reason": "returned to supplier, RMA 4411"})
    assert returned.status_code == 201
    assert api["admin"].post(f"{INV}/returns", json={
        "container_id": second, "reason": "returned again"}).status_code == 409
    assert api["nurse_a"].get(f"{INV}/containers").json() == []


def test_reports_in_json_csv_and_pdf(api, world, db: Session) -> None:
    vial = received_vial(api, db, "report")
    session = ready_to_dose(api, world, db)
    movement = {"container_id": vial, "session_id": session}
    api["nurse_a"].post(f"{INV}/draws", json={**movement, "quantity_mg": "40"})
    post(api, "nurse_a", session, "dose/start",
         {"dose_mg": 35, "lot_number": "K123", "ordered_by": "prescriber"})
    api["nurse_a"].post(f"{INV}/wastes", json={
        **movement, "quantity_mg": "5",
        "witness": {"username": "prescriber", "password": PASSWORD,
                    "totp_code": totp_now(world.users["prescriber"])}})
    assert close(api, session).status_code == 200
    today = clock.now().date()
    period = {"site": "A", "start": str(today - timedelta(days=1)),
              "end": str(today + timedelta(days=1))}
    log = api["admin"].get(f"{INV}/reports/dispensing", params=period).json()["rows"]
    assert [(r["entry"], r["quantity_mg"]) for r in log] == [
        ("receive", "500.000"), ("draw", "40.000"), ("administer", "35.000"), ("waste", "5.000")]
    given = log[2]
    assert given["patient"] == "TestP_A1, Pat" and given["prescriber"] == "prescriber"
    assert log[3]["witness"] == "prescriber" and log[3]["recorded_by"] == "nurse_a"
    csv_text = api["admin"].get(f"{INV}/reports/dispensing",
                                params={**period, "format": "csv"}).text
    assert csv_text.splitlines()[0].startswith("occurred_at,entry,container")
    assert len(csv_text.splitlines()) == 5
    pdf = api["admin"].get(f"{INV}/reports/dispensing", params={**period, "format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "dispensing log" in text and "administer" in text and "TestP_A1" in text
    inventory = api["admin"].get(f"{INV}/reports/inventory",
                                 params={"site": "A", "as_of": str(today + timedelta(days=1))})
    assert inventory.json()["total_mg"] == "460.000"
    assert inventory.json()["rows"][0]["container_state"] == "opened"
    usage = api["admin"].get(f"{INV}/reports/usage", params=period).json()["rows"]
    prescriber = next(r for r in usage if r["group"] == "prescriber")
    assert (prescriber["who"], prescriber["sessions"], prescriber["given_mg"]) == (
        "prescriber", 1, "35.000")
    assert api["admin"].get(f"{INV}/reports/usage", params={**period, "site": "Q"}
                            ).json()["errors"][0]["field"] == "site"
    assert api["nurse_a"].get(f"{INV}/reports/usage", params=period).status_code == 403
    assert api["patient_a1"].get(f"{INV}/containers").status_code == 403


def _form106_of_one_shortage(db: Session, found: datetime) -> dict[str, Any]:
    """The Form 106 draft of site A for the day a 10 mg shortage was found on."""
    from decimal import Decimal

    from ketaclinic.clinics.models import Site
    from ketaclinic.inventory import reports
    from ketaclinic.inventory.models import Discrepancy

    site = db.execute(select(Site).where(Site.code == "A")).scalar_one()
    db.add(Discrepancy(site_pk=site.pk, kind="count", expected_mg=Decimal("500"),
                       found_mg=Decimal("490"), detail="counted 490 mg", opened_at=found,
                       created_by="test"))
    db.flush()
    day = found.replace(hour=0, minute=0)
    return reports.form106_draft(db, site, day, day + timedelta(days=1))


def test_a_loss_found_in_the_evening_is_due_by_the_site_s_next_business_day(
        db: Session, world) -> None:
    """Found at 20:30 on Thursday in New York (01:30 on Friday in UTC): the notice is due on
    Friday, one business day later, not on Monday."""
    found = datetime(2026, 11, 5, 20, 30, tzinfo=ZoneInfo("America/New_York"))
    [item] = _form106_of_one_shortage(db, found)["items"]
    assert (str(item["discovered_on"]), str(item["notice_due_by"])) == ("2026-11-05", "2026-11-06")


def test_a_loss_found_the_day_before_thanksgiving_is_due_the_day_after(db: Session, world) -> None:
    """Found on Wednesday 25 November 2026: Thanksgiving (Thursday) is a federal holiday, when the
    DEA's offices are closed, so one business day later is Friday the 27th; the draft says how
    business days are counted."""
    found = datetime(2026, 11, 25, 16, 0, tzinfo=ZoneInfo("America/New_York"))
    draft = _form106_of_one_shortage(db, found)
    [item] = draft["items"]
    assert (str(item["discovered_on"]), str(item["notice_due_by"])) == ("2026-11-25", "2026-11-27")
    assert "5 U.S.C. 6103" in draft["rule"]
