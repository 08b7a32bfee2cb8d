"""The stock, receipt, count, discrepancy and report pages: errors shown on the form, nothing
stored; roles kept out."""

import html
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.inventory.models import Container
from tests.conftest import PASSWORD, csrf_of, totp_now
from tests.inventory.helpers import expiry, stock


def test_receive_count_resolve_and_report_through_the_pages(web, world, db: Session) -> None:
    product, cabinet, _ = stock(db, "pages")
    admin = web["admin"]
    form = admin.get("/inventory/receive")
    assert form.status_code == 200 and product.name in form.text
    receipt = {"csrf_token": csrf_of(form.text), "product_id": str(product.id),
               "location_id": str(cabinet.id), "lot_number": "K77", "expires_on": expiry(),
               "supplier": "Acme", "invoice": "INV-77"}
    before = db.execute(select(func.count()).select_from(Container)).scalar_one()
    bad = admin.post("/inventory/receive", data={**receipt, "count": "0"})
    assert bad.status_code == 422 and "count" in html.unescape(bad.text)
    assert 'value="K77"' in bad.text  # the form comes back as typed
    assert db.execute(select(func.count()).select_from(Container)).scalar_one() == before
    done = admin.post("/inventory/receive", data={**receipt, "count": "1"},
                      follow_redirects=False)
    assert done.status_code == 303
    nurse = web["nurse_a"]
    stock_page = nurse.get("/inventory")
    assert "K77" in stock_page.text and "Count this cabinet" in stock_page.text
    sheet = nurse.get(f"/inventory/cabinets/{cabinet.id}/count")
    assert "500" not in sheet.text.split("count-sheet")[1]  # blind: the ledger's figure is hidden
    label = db.execute(select(Container.label).order_by(Container.pk.desc())).scalars().first()
    counted = {"csrf_token": csrf_of(sheet.text), f"first.{label}": "495",
               f"second.{label}": "495", "second_username": "prescriber",
               "second_password": "wrong"}
    refused = nurse.post(f"/inventory/cabinets/{cabinet.id}/count", data=counted)
    assert refused.status_code == 403 and 'value="495"' in refused.text
    counted["second_password"] = PASSWORD
    counted["second_totp"] = totp_now(world.users["prescriber"])
    result = nurse.post(f"/inventory/cabinets/{cabinet.id}/count", data=counted)
    assert result.status_code == 200 and "1 variance from the ledger" in result.text
    listing = admin.get("/inventory/discrepancies")
    assert "counted 495 mg; the ledger says 500 mg" in listing.text
    dashboard = admin.get("/dashboard?site=A")
    assert "1 open discrepancy" in dashboard.text
    discrepancy_id = listing.text.split('action="/inventory/discrepancies/')[1].split("/")[0]
    short = admin.post(f"/inventory/discrepancies/{discrepancy_id}/resolve",
                       data={"csrf_token": csrf_of(listing.text), "reason": "ok"})
    assert short.status_code == 422 and "reason" in short.text
    resolved = admin.post(f"/inventory/discrepancies/{discrepancy_id}/resolve", data={
        "csrf_token": csrf_of(listing.text),
        "reason": "Recounted with the pharmacist: 5 mg spilled when opening"})
    assert resolved.status_code == 200 and "Resolved by admin" in resolved.text
    reports = admin.get("/inventory/reports")
    assert reports.status_code == 200 and "Form 106 draft" in reports.text
    today = datetime.now(ZoneInfo("America/New_York")).date()  # site A's day
    pdf = admin.get("/inventory/reports/inventory", params={
        "site": "A", "as_of": str(today + timedelta(days=1)), "format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    csv_log = admin.get("/inventory/reports/dispensing", params={
        "site": "A", "start": str(today), "end": str(today), "format": "csv"})
    assert csv_log.status_code == 200 and "receive" in csv_log.text
    assert admin.get("/inventory/reports/dispensing", params={
        "site": "A", "start": str(today), "end": str(today), "format": "xls"}).status_code == 422
    assert nurse.get("/inventory/receive").status_code == 403
    assert nurse.get("/inventory/discrepancies").status_code == 403
    assert web["patient_a1"].get("/inventory").status_code == 403
    assert web["frontdesk"].get("/inventory").status_code == 403


def test_each_cabinet_lists_only_its_own_containers_when_names_repeat(api, web, db: Session
                                                                      ) -> None:
    admin = api["admin"]
    product = admin.post("/api/v1/inventory/products", json={
        "name": "Ketamine 50 mg/mL 10 mL", "drug": "ketamine", "ndc": "12345-678-91",
        "mg_per_container": "500", "concentration_mg_per_ml": "50", "volume_ml": "10"}).json()
    for site, lot in (("A", "LOT-AAA"), ("B", "LOT-BBB")):
        cabinet = admin.post("/api/v1/inventory/cabinets", json={"site": site,
                                                                  "name": "Med room safe"})
        assert cabinet.status_code == 201, cabinet.text
        received = admin.post("/api/v1/inventory/receipts", json={
            "product_id": product["id"], "location_id": cabinet.json()["id"], "lot_number": lot,
            "expires_on": expiry(), "supplier": "S", "invoice": f"I-{site}", "count": 1})
        assert received.status_code == 201, received.text
        assert received.json()[0]["location_id"] == cabinet.json()["id"]
    page = web["admin"].get("/inventory").text
    sections = {s.split("</h2>")[0].split("<h2>")[1].strip(): s
                for s in page.split('<section class="card cabinet"')[1:]}
    assert "LOT-AAA" in sections["A · Med room safe"]
    assert "LOT-BBB" not in sections["A · Med room safe"]
    assert "LOT-BBB" in sections["B · Med room safe"]
    assert "LOT-AAA" not in sections["B · Med room safe"]
