"""Ledger use cases with reach: containers, cabinets and sessions at the actor's sites only."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.auth.actor import Actor
from ketaclinic.auth.models import User
from ketaclinic.db import utcnow
from ketaclinic.errors import Conflict, NotFound, invalid, public_id
from ketaclinic.inventory import ledger, schemas
from ketaclinic.inventory.models import Container, LedgerRow, Lot, Product, StorageLocation
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import TreatmentSession


def location(db: Session, location_id: object, actor: Actor) -> StorageLocation:
    """A cabinet at one of the actor's sites."""
    found = db.execute(select(StorageLocation).where(
        StorageLocation.id == public_id(location_id, "cabinet"))).scalar_one_or_none()
    if found is None or found.site_pk not in actor.site_pks:
        raise NotFound("no such cabinet")
    return found


def container(db: Session, container_id: object, actor: Actor) -> Container:
    """A container whose stock is (or was last) in a cabinet at one of the actor's sites."""
    found = db.execute(select(Container).where(
        Container.id == public_id(container_id, "container"))).scalar_one_or_none()
    if found is None:
        raise NotFound("no such container")
    where = ledger.location_of(db, found.pk) or db.execute(select(LedgerRow.location_pk).where(
        LedgerRow.container_pk == found.pk, LedgerRow.location_pk.is_not(None)).order_by(
        LedgerRow.pk.desc()).limit(1)).scalar_one_or_none()
    site = db.execute(select(StorageLocation.site_pk).where(StorageLocation.pk == where)
                      ).scalar_one_or_none()
    if site not in actor.site_pks:
        raise NotFound("no such container")
    return found


def session(db: Session, session_id: object, actor: Actor) -> tuple[TreatmentSession, Any]:
    """A treatment session at one of the actor's sites, with its patient's public id."""
    found = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == public_id(session_id, "treatment session"))).scalar_one_or_none()
    if found is None or found.site_pk not in actor.site_pks:
        raise NotFound("no such treatment session")
    patient_id = db.execute(select(Patient.id).where(Patient.pk == found.patient_pk)).scalar_one()
    return found, patient_id


def witness_of(db: Session, given: schemas.WitnessIn | None, actor: Actor) -> User:
    """The authenticated witness (refused when missing or wrong)."""
    if given is None:
        raise invalid("witness", "a second person must witness this", "their own credentials")
    return ledger.witness(db=db, username=given.username, password=given.password,
                          totp_code=given.totp_code, actor=actor)


def receive(*, db: Session, data: schemas.ReceiveIn, actor: Actor) -> list[Container]:
    """Containers received on an invoice."""
    product = db.execute(select(Product).where(Product.id == data.product_id)).scalar_one_or_none()
    if product is None:
        raise NotFound("no such product")
    return ledger.receive(db=db, product=product, lot_number=data.lot_number,
                          expires_on=data.expires_on, supplier=data.supplier, invoice=data.invoice,
                          location=location(db, data.location_id, actor), count=data.count,
                          actor=actor)


def movement(*, db: Session, kind: str, data: schemas.SessionMovementIn, actor: Actor) -> uuid.UUID:
    """A draw, dose given or waste against a session."""
    held = container(db, data.container_id, actor)
    treated, patient_id = session(db, data.session_id, actor)
    if treated.status != "open":
        raise Conflict("the treatment session is closed; correct the ledger by a reversal")
    amount = ledger.mg(data.quantity_mg)
    if kind == "draw":
        return ledger.draw(db=db, container_pk=held.pk, amount=amount, session_pk=treated.pk,
                           actor=actor, patient_id=patient_id)
    if kind == "give":
        return ledger.give(db=db, container_pk=held.pk, amount=amount, session_pk=treated.pk,
                           prescriber=data.prescriber or treated.ordered_by or "", actor=actor,
                           patient_id=patient_id)
    return ledger.waste(db=db, container_pk=held.pk, amount=amount, session_pk=treated.pk,
                        witness_user=witness_of(db, data.witness, actor), actor=actor,
                        patient_id=patient_id)


def containers_at(db: Session, actor: Actor, site_pk: int | None = None
                  ) -> list[schemas.ContainerOut]:
    """Containers with stock at the actor's sites (or at one of them)."""
    sites = actor.site_pks if site_pk is None else actor.site_pks & {site_pk}
    cabinets = {c.pk: c for c in db.execute(select(StorageLocation).where(
        StorageLocation.site_pk.in_(sites))).scalars()}
    rows = ledger.inventory_as_of(db, utcnow(), list(cabinets))
    return [_container_out(db, r["container_pk"], cabinets[r["location_pk"]].name,
                           r["quantity_mg"], r["devices"]) for r in rows]


def _container_out(db: Session, container_pk: int, where: str, quantity: Decimal,
                   devices: int) -> schemas.ContainerOut:
    held, lot, product = db.execute(select(Container, Lot, Product).join(
        Lot, Lot.pk == Container.lot_pk).join(Product, Product.pk == Lot.product_pk).where(
        Container.pk == container_pk)).one()
    return schemas.ContainerOut(id=held.id, label=held.label, product=product.name,
                                lot_number=lot.lot_number, expires_on=lot.expires_on,
                                location=where, quantity_mg=quantity, devices=devices)


def inventory(*, db: Session, as_of: datetime, actor: Actor) -> schemas.InventoryOut:
    """Stock at the actor's sites as of a moment, from the ledger."""
    cabinets = {c.pk: c for c in db.execute(select(StorageLocation).where(
        StorageLocation.site_pk.in_(actor.site_pks))).scalars()}
    rows = []
    for r in ledger.inventory_as_of(db, as_of, list(cabinets)):
        out = _container_out(db, r["container_pk"], cabinets[r["location_pk"]].name,
                             r["quantity_mg"], r["devices"])
        rows.append(schemas.InventoryRowOut(container=out.label, product=out.product,
                                            lot_number=out.lot_number, location=out.location or "",
                                            quantity_mg=out.quantity_mg, devices=out.devices))
    return schemas.InventoryOut(as_of=as_of, rows=rows,
                                total_mg=sum((r.quantity_mg for r in rows), Decimal(0)))


def container_id_of(db: Session, container_pk: int) -> Any:
    """A container's public id and label."""
    return db.execute(select(Container.id, Container.label).where(Container.pk == container_pk)
                      ).one()


def sessions_by_pk(db: Session, pks: list[int]) -> dict[int, tuple[TreatmentSession, Patient]]:
    """Treatment sessions with their patients, by key."""
    if not pks:
        return {}
    rows = db.execute(select(TreatmentSession, Patient).join(
        Patient, Patient.pk == TreatmentSession.patient_pk).where(
        TreatmentSession.pk.in_(pks))).all()
    return {s.pk: (s, p) for s, p in rows}
