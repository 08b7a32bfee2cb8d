"""The demo clinic's controlled-substance stock: products, a locked cabinet per site, receipts,
and a draw, dose and witnessed waste for every demo treatment session, in the order given."""

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.auth.models import User
from ketaclinic.clinics.models import Site
from ketaclinic.inventory import ledger
from ketaclinic.inventory.models import Container, Lot, Product, StorageLocation
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import TreatmentSession

# The demo's ketamine vial has no real NDC: a clinic enters its supplier's. Spravato's device NDC
# is the published one (codes.md).
KETAMINE_VIAL = dict(name="Ketamine HCl injection 50 mg/mL, 10 mL multiple-dose vial (demo "
                     "catalogue entry)", drug="ketamine", ndc="DEMO-KETAMINE-50-10",
                     mg_per_container=500.0, concentration_mg_per_ml=50.0, volume_ml=10.0)
SPRAVATO_DEVICE = dict(name="Spravato (esketamine) 28 mg nasal spray device", drug="esketamine",
                       ndc="50458-028-00", mg_per_container=28.0, devices_per_container=1)
CABINET = "Med room safe"
VIALS_RECEIVED = 5
RECEIVED_DAYS_AGO = 80
# A restock three weeks ago at every site carries the sessions of the demo's recent weeks.
RESTOCK_VIALS = 16
RESTOCK_DAYS_AGO = 21
DEVICES_RECEIVED = 6
DRAW_MG = Decimal(50)  # draws are whole mL (50 mg/mL); the rest of the draw is wasted
LOT = "KX2611"
RESTOCK_LOT = "KX2642"


@dataclass(frozen=True)
class DemoStock:
    """What a demo session draws from, and who records and witnesses."""

    cabinet: StorageLocation
    nurse: Actor
    witness: User


def add_stock(db: Session, *, sites: list[Site], today: date) -> dict[int, DemoStock]:
    """Products, a cabinet per site, ketamine vials at every site (an older lot at the first) and
    Spravato at the second; returns each site's stock by site key."""
    vial = Product(**KETAMINE_VIAL, created_by="demo")
    device = Product(**SPRAVATO_DEVICE, created_by="demo")
    db.add_all([vial, device])
    cabinets = [StorageLocation(site_pk=site.pk, name=CABINET, created_by="demo") for site in sites]
    db.add_all(cabinets)
    db.flush()
    admin = Actor("admin", "admin", site_pks=frozenset(s.pk for s in sites))

    def at(site: Site, days_ago: int) -> datetime:
        return datetime.combine(today - timedelta(days=days_ago), time(8, 0),
                                tzinfo=ZoneInfo(site.time_zone))

    ledger.receive(db=db, product=vial, lot_number=LOT, expires_on=today + timedelta(days=540),
                   supplier="Demo Medical Supply", invoice="DEMO-INV-1001", location=cabinets[0],
                   count=VIALS_RECEIVED, actor=admin, occurred_at=at(sites[0], RECEIVED_DAYS_AGO))
    for number, (site, cabinet) in enumerate(zip(sites, cabinets, strict=True)):
        ledger.receive(db=db, product=vial, lot_number=RESTOCK_LOT,
                       expires_on=today + timedelta(days=600), supplier="Demo Medical Supply",
                       invoice=f"DEMO-INV-20{number + 1:02d}", location=cabinet,
                       count=RESTOCK_VIALS, actor=admin, occurred_at=at(site, RESTOCK_DAYS_AGO))
    if len(sites) > 1:
        ledger.receive(db=db, product=device, lot_number="SPV-DEMO-7",
                       expires_on=today + timedelta(days=400), supplier="Demo Specialty Pharmacy",
                       invoice="DEMO-INV-1002", location=cabinets[1], count=DEVICES_RECEIVED,
                       actor=admin, occurred_at=at(sites[1], 20))
    witness = db.execute(select(User).where(User.username == "prescriber")).scalar_one()
    nurses = {site.pk: db.execute(select(User.username).join(User.sites).where(
        User.role == "nurse", Site.pk == site.pk).order_by(User.pk)).scalars().first() or "nurse"
        for site in sites}
    return {site.pk: DemoStock(cabinet=cabinet, witness=witness,
                               nurse=Actor(nurses[site.pk], "nurse", site_pks=frozenset({site.pk})))
            for site, cabinet in zip(sites, cabinets, strict=True)}


def dispense(db: Session, stock: DemoStock, treatment_session: TreatmentSession) -> None:
    """Draw for a demo session from the first vial holding enough (its lot noted on the dose),
    give the dose, waste the rest once the dose has ended."""
    assert treatment_session.dose_given and treatment_session.dose_start
    given = Decimal(str(treatment_session.dose_given.dose_mg))
    draw = DRAW_MG * math.ceil(given / DRAW_MG)
    container_pk = next(row["container_pk"] for row in ledger.inventory_as_of(
        db, treatment_session.dose_start, [stock.cabinet.pk]) if row["quantity_mg"] >= draw)
    lot = db.execute(select(Lot.lot_number).join(Container, Container.lot_pk == Lot.pk).where(
        Container.pk == container_pk)).scalar_one()
    treatment_session.dose_given = replace(treatment_session.dose_given,
                                           lot_number=lot)  # the vial actually drawn from
    patient_id = db.execute(select(Patient.id).where(Patient.pk == treatment_session.patient_pk)
                            ).scalar_one()
    ledger.draw(db=db, container_pk=container_pk, amount=draw, session_pk=treatment_session.pk,
                actor=stock.nurse, patient_id=patient_id,
                occurred_at=treatment_session.dose_start - timedelta(minutes=10))
    ledger.give(db=db, container_pk=container_pk, amount=given, session_pk=treatment_session.pk,
                prescriber=treatment_session.ordered_by or "", actor=stock.nurse, patient_id=patient_id,
                occurred_at=treatment_session.dose_start)
    if treatment_session.dose_end is not None and draw > given:  # a running infusion keeps its draw
        ledger.waste(db=db, container_pk=container_pk, amount=draw - given,
                     session_pk=treatment_session.pk, witness_user=stock.witness, actor=stock.nurse,
                     patient_id=patient_id, occurred_at=treatment_session.dose_end)
