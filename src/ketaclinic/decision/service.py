"""What the public pages read and the one thing they store: the network's crisis contacts,
sites and zone, a course's cost for a visitor (never written), and an enquiry when sent."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.billing import estimate as estimates
from ketaclinic.clinics.models import Network, Site
from ketaclinic.decision.models import Enquiry
from ketaclinic.errors import DomainError
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import crisis
from ketaclinic.patients.models import Patient


def crisis_contacts(db: Session) -> list[str]:
    """The network's crisis contacts, or the national ones when it has set none."""
    network = db.execute(select(Network).order_by(Network.pk).limit(1)).scalar_one_or_none()
    return list(network.crisis_contacts or []) if network and network.crisis_contacts \
        else crisis.fallback_contacts()


def public_sites(db: Session) -> Sequence[Site]:
    """The network's sites, by code, as a visitor sees them."""
    return db.execute(select(Site).order_by(Site.code)).scalars().all()


def network_zone(db: Session) -> str:
    """The zone a visitor's dates are read in: the network's first site's."""
    return db.execute(select(Site.time_zone).order_by(Site.code).limit(1)).scalar_one_or_none() \
        or "UTC"


def visitor_cost(db: Session, *, route: str, sessions: int, weight_kg: float | None,
                 dose_mg: float | None) -> dict[str, Any] | None:
    """A course's cost at the first site with a price list that can price it, or None.
    Nothing the estimate touches is kept: it runs inside a savepoint that is rolled back."""
    for site in public_sites(db):
        nested = db.begin_nested()
        try:
            result = estimates.estimate(db=db, site=site, route=route, sessions=sessions,
                                        on=clock.today(site.time_zone), weight_kg=weight_kg,
                                        dose_mg=dose_mg)
        except DomainError:
            continue
        finally:
            nested.rollback()
        return {"site": site, "estimate": result}
    return None


def record_enquiry(db: Session, *, name: str, contact: str, message: str,
                   self_check: dict[str, Any] | None, site_code: str) -> Enquiry:
    """Store a visitor's enquiry for the site they chose (else the network's first)."""
    sites = public_sites(db)
    site = next((s for s in sites if s.code == site_code), sites[0] if sites else None)
    enquiry = Enquiry(name=name, contact=contact, message=message, self_check=self_check,
                      received_at=clock.now(), created_by="public",
                      site_pk=site.pk if site else None)
    db.add(enquiry)
    db.flush()
    return enquiry


def inbox(db: Session, actor: Actor) -> list[tuple[Enquiry, Site]]:
    """Enquiries and patients' messages to the caller's sites, newest first (200 at most);
    reading a patient's message is audited on that patient's record."""
    rows = [(e, s) for e, s in db.execute(
        select(Enquiry, Site).join(Site, Site.pk == Enquiry.site_pk)
        .where(Enquiry.site_pk.in_(actor.site_pks))
        .order_by(Enquiry.received_at.desc()).limit(200)).all()]
    patient_ids = dict(db.execute(select(Patient.pk, Patient.id).where(Patient.pk.in_(
        [e.patient_pk for e, _ in rows if e.patient_pk is not None]))).all())
    for enquiry, _ in rows:
        if enquiry.patient_pk is not None:
            audit.record(db=db, actor=actor, action="read", record_type="Enquiry",
                         record_id=enquiry.id, patient_id=patient_ids[enquiry.patient_pk],
                         detail="message in the enquiries inbox")
    audit.record(db=db, actor=actor, action="read", record_type="Enquiry", record_id="inbox",
                 detail=f"{len(rows)} enquiries at {len(actor.site_pks)} sites")
    return rows
