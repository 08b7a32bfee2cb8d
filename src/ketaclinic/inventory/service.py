"""Ledger use cases with reach: containers, cabinets and sessions at the actor's sites only."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.auth.models import User
from ketaclinic.db import by_public_id
from ketaclinic.errors import Conflict, NotFound, invalid, public_id
from ketaclinic.inventory import catalogue, ledger, schemas
from ketaclinic.inventory.models import Container, LedgerRow, Product, StorageLocation
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import TreatmentSession


def location(db: Session, location_id: object, actor: Actor) -> StorageLocation:
    """A cabinet at one of the actor's sites."""
    return by_public_id(db, StorageLocation, location_id, "cabinet", site_pks=actor.site_pks)


def container(db: Session, container_id: object, actor: Actor) -> Container:
    """A container whose stock is (or was last) in a cabinet at one of the actor's sites."""
    found = db.execute(select(Container).where(
        Container.id == public_id(container_id, "container"))).scalar_one_or_none()
    if found is None or site_of(db, found.pk) not in actor.site_pks:
        raise NotFound("no such container")
    return found


def site_of(db: Session, container_pk: int) -> int | None:
    """The site whose cabinet holds (or last held) a container."""
    where = ledger.location_of(db, container_pk) or db.execute(select(LedgerRow.location_pk).where(
        LedgerRow.container_pk == container_pk, LedgerRow.location_pk.is_not(None)).order_by(
        LedgerRow.pk.desc()).limit(1)).scalar_one_or_none()
    return db.execute(select(StorageLocation.site_pk).where(StorageLocation.pk == where)
                      ).scalar_one_or_none()


def treatment_session(db: Session, treatment_session_id: object,
                      actor: Actor) -> tuple[TreatmentSession, Any]:
    """A treatment session at one of the actor's sites, with its patient's public id."""
    found = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == public_id(treatment_session_id, "treatment session"))).scalar_one_or_none()
    if found is None or found.site_pk not in actor.site_pks:
        raise NotFound("no such treatment session")
    patient_id = db.execute(select(Patient.id).where(Patient.pk == found.patient_pk)).scalar_one()
    return found, patient_id


def witness_of(db: Session, given: schemas.WitnessIn | None, actor: Actor,
               site_pk: int | None) -> User:
    """The authenticated witness, who works at the site of the entry (refused when missing,
    wrong, or from elsewhere)."""
    if given is None:
        raise invalid("witness", "a second person must witness this", "their own credentials")
    user = ledger.witness(db=db, username=given.username, password=given.password,
                          totp_code=given.totp_code, actor=actor)
    if site_pk not in {s.pk for s in user.sites}:
        raise invalid("witness", f"{user.username} does not work at this site",
                      "a nurse or prescriber of this site")
    return user


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
    treated, patient_id = treatment_session(db, data.session_id, actor)
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
                        witness_user=witness_of(db, data.witness, actor, treated.site_pk),
                        actor=actor,
                        patient_id=patient_id)


def containers_at(db: Session, actor: Actor, site_pk: int | None = None
                  ) -> list[schemas.ContainerOut]:
    """Containers with stock at the actor's sites (or at one of them)."""
    sites = actor.site_pks if site_pk is None else actor.site_pks & {site_pk}
    cabinets = {c.pk: c for c in db.execute(select(StorageLocation).where(
        StorageLocation.site_pk.in_(sites))).scalars()}
    return _described(db, ledger.inventory_as_of(db, clock.now(), list(cabinets)), cabinets)


def _described(db: Session, rows: list[dict[str, Any]], cabinets: dict[int, StorageLocation]
               ) -> list[schemas.ContainerOut]:
    found = catalogue.describe(db, [r["container_pk"] for r in rows])
    out = []
    for r in rows:
        held, lot, product = found[r["container_pk"]]
        out.append(schemas.ContainerOut(
            id=held.id, label=held.label, product=product.name, lot_number=lot.lot_number,
            expires_on=lot.expires_on, location=cabinets[r["location_pk"]].name,
            location_id=cabinets[r["location_pk"]].id,
            quantity_mg=r["quantity_mg"], devices=r["devices"]))
    return out


def inventory(*, db: Session, as_of: datetime, actor: Actor) -> schemas.InventoryOut:
    """Stock at the actor's sites as of a moment, from the ledger."""
    cabinets = {c.pk: c for c in db.execute(select(StorageLocation).where(
        StorageLocation.site_pk.in_(actor.site_pks))).scalars()}
    rows = [schemas.InventoryRowOut(container=c.label, product=c.product,
                                    lot_number=c.lot_number, location=c.location or "",
                                    quantity_mg=c.quantity_mg, devices=c.devices)
            for c in _described(db, ledger.inventory_as_of(db, as_of, list(cabinets)), cabinets)]
    return schemas.InventoryOut(as_of=as_of, rows=rows,
                                total_mg=sum((r.quantity_mg for r in rows), Decimal(0)))


def container_id_of(db: Session, container_pk: int) -> Any:
    """A container's public id and label."""
    return db.execute(select(Container.id, Container.label).where(Container.pk == container_pk)
                      ).one()


def treatment_sessions_by_pk(db: Session, pks: list[int]) -> dict[int, tuple[TreatmentSession, Patient]]:
    """Treatment sessions with their patients, by key."""
    if not pks:
        return {}
    rows = db.execute(select(TreatmentSession, Patient).join(
        Patient, Patient.pk == TreatmentSession.patient_pk).where(
        TreatmentSession.pk.in_(pks))).all()
    return {s.pk: (s, p) for s, p in rows}


def site_of_txn(db: Session, txn_id: uuid.UUID, actor: Actor) -> int | None:
    """The site of a ledger transaction's first container, checked within the actor's reach
    (404 otherwise); None when there is no such transaction (the ledger refuses it later)."""
    first = db.execute(select(LedgerRow.container_pk).where(LedgerRow.txn_id == txn_id).limit(1)
                       ).scalar_one_or_none()
    if first is None:
        return None
    label = db.execute(select(Container.id).where(Container.pk == first)).scalar_one()
    container(db, label, actor)
    return site_of(db, first)
