"""JSON API for the controlled-substance ledger under /api/v1/inventory."""

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.auth.actor import Actor
from ketaclinic.auth.permissions import Permission
from ketaclinic.db import utcnow
from ketaclinic.errors import invalid
from ketaclinic.inventory import ledger, schemas, service
from ketaclinic.inventory.models import Container, LedgerRow
from ketaclinic.web.deps import API_PREFIX, get_db, require

router = APIRouter(prefix=f"{API_PREFIX}/inventory", tags=["inventory"])


@router.post("/receipts", response_model=list[schemas.ContainerOut], status_code=201)
def receive(data: schemas.ReceiveIn, actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
            db: Session = Depends(get_db)) -> list[schemas.ContainerOut]:
    """Containers received on a supplier's invoice into a cabinet."""
    made = service.receive(db=db, data=data, actor=actor)
    db.commit()
    return [c for c in service.containers_at(db, actor) if c.id in {m.id for m in made}]


@router.get("/containers", response_model=list[schemas.ContainerOut])
def containers(actor: Actor = Depends(require(Permission.INVENTORY_USE)),
               db: Session = Depends(get_db)) -> list[schemas.ContainerOut]:
    """Containers with stock at the caller's sites, with what each holds now."""
    return service.containers_at(db, actor)


def _movement(kind: str, data: schemas.SessionMovementIn, actor: Actor,
              db: Session) -> schemas.TxnOut:
    txn = service.movement(db=db, kind=kind, data=data, actor=actor)
    db.commit()
    return schemas.TxnOut(txn_id=txn)


@router.post("/draws", response_model=schemas.TxnOut, status_code=201)
def draw(data: schemas.SessionMovementIn, actor: Actor = Depends(require(Permission.INVENTORY_USE)),
         db: Session = Depends(get_db)) -> schemas.TxnOut:
    """Draw from a container for a treatment session."""
    return _movement("draw", data, actor, db)


@router.post("/doses", response_model=schemas.TxnOut, status_code=201)
def give(data: schemas.SessionMovementIn, actor: Actor = Depends(require(Permission.INVENTORY_USE)),
         db: Session = Depends(get_db)) -> schemas.TxnOut:
    """Record the dose given from what was drawn for the session."""
    return _movement("give", data, actor, db)


@router.post("/wastes", response_model=schemas.TxnOut, status_code=201)
def waste(data: schemas.SessionMovementIn, actor: Actor = Depends(require(Permission.INVENTORY_USE)),
          db: Session = Depends(get_db)) -> schemas.TxnOut:
    """Waste the rest of a draw; the witness authenticates with their own credentials."""
    return _movement("waste", data, actor, db)


@router.post("/transfers", response_model=schemas.TxnOut, status_code=201)
def transfer(data: schemas.TransferIn,
             actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
             db: Session = Depends(get_db)) -> schemas.TxnOut:
    """Move a container to another cabinet at the caller's sites."""
    held = service.container(db, data.container_id, actor)
    txn = ledger.transfer(db=db, container_pk=held.pk,
                          to=service.location(db, data.location_id, actor), actor=actor)
    db.commit()
    return schemas.TxnOut(txn_id=txn)


@router.post("/adjustments", response_model=schemas.TxnOut, status_code=201)
def adjust(data: schemas.AdjustIn, actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
           db: Session = Depends(get_db)) -> schemas.TxnOut:
    """Correct a container's count with a reason and a witness."""
    held = service.container(db, data.container_id, actor)
    if data.delta_mg == 0:
        raise invalid("delta_mg", "a correction of 0 mg changes nothing", "a non-zero number")
    txn = ledger.adjust(db=db, container_pk=held.pk, delta=data.delta_mg.quantize(ledger.MG),
                        reason=data.reason, witness_user=service.witness_of(db, data.witness, actor),
                        actor=actor)
    db.commit()
    return schemas.TxnOut(txn_id=txn)


@router.post("/transactions/{txn_id}/reversal", response_model=schemas.TxnOut, status_code=201)
def reverse(txn_id: uuid.UUID, data: schemas.ReverseIn,
            actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
            db: Session = Depends(get_db)) -> schemas.TxnOut:
    """Undo a transaction by its mirror image, with a reason."""
    first = db.execute(select(LedgerRow.container_pk).where(LedgerRow.txn_id == txn_id).limit(1)
                       ).scalar_one_or_none()
    if first is not None:
        label = db.execute(select(Container.id).where(Container.pk == first)).scalar_one()
        service.container(db, label, actor)  # within reach, or 404
    witness_user = service.witness_of(db, data.witness, actor) if data.witness else None
    txn = ledger.reverse(db=db, txn_id=txn_id, reason=data.reason, actor=actor,
                         witness_user=witness_user)
    db.commit()
    return schemas.TxnOut(txn_id=txn)


@router.get("/inventory", response_model=schemas.InventoryOut)
def inventory(as_of: datetime | None = None,
              actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
              db: Session = Depends(get_db)) -> schemas.InventoryOut:
    """Stock at the caller's sites as of a moment (default now), reconstructed from the ledger."""
    moment = as_of or utcnow()
    if moment.tzinfo is None:
        raise invalid("as_of", "has no time zone", "ISO 8601 with offset")
    return service.inventory(db=db, as_of=moment, actor=actor)
