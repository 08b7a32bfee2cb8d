"""Stock and sessions for ledger tests."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.inventory.models import Product, StorageLocation
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import TreatmentSession
from tests.course_rows import signed_course

NURSE = Actor(username="nurse_a", role="nurse")


def expiry(days: int = 700) -> str:
    """An expiry date that many days after the clinic's today (ISO), for received vials."""
    return str(clock.now().date() + timedelta(days=days))


def stock(db: Session, suffix: str) -> tuple[Product, StorageLocation, StorageLocation]:
    """A ketamine 500 mg/10 mL vial product and two cabinets at site A."""
    site = db.execute(select(Site).where(Site.code == "A")).scalar_one()
    product = Product(name="Ketamine HCl 50 mg/mL, 10 mL vial", drug="ketamine",
                      ndc=f"0000-{suffix}", mg_per_container=500, concentration_mg_per_ml=50,
                      volume_ml=10, created_by="test")
    cabinets = [StorageLocation(site_pk=site.pk, name=f"Cabinet {n} {suffix}", created_by="test")
                for n in (1, 2)]
    db.add_all([product, *cabinets])
    db.flush()
    return product, cabinets[0], cabinets[1]


def sessions(db: Session, count: int) -> list[int]:
    """Treatment sessions (rows only) for patient A1 under a signed evaluation."""
    patient = db.execute(select(Patient).order_by(Patient.pk).limit(1)).scalar_one()
    site = db.execute(select(Site).where(Site.code == "A")).scalar_one()
    chair = db.execute(select(Chair).where(Chair.site_pk == site.pk)).scalars().first()
    course = signed_course(db, patient.pk, "iv")
    rows = [TreatmentSession(patient_pk=patient.pk, course_pk=course.pk, site_pk=site.pk,
                             chair_pk=chair.pk, route="iv", status="open",
                             checked_in_at=clock.now() - timedelta(hours=n), created_by="test")
            for n in range(count)]
    db.add_all(rows)
    db.flush()
    return [r.pk for r in rows]
