"""JSON API for the controlled-substance ledger under /api/v1/inventory."""

import uuid

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.errors import invalid
from ketaclinic.inventory import (
    catalogue,
    counts,
    discrepancies,
    ledger,
    reconcile,
    schemas,
    service,
)
from ketaclinic.inventory.models import Discrepancy, StockCount
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.web.deps import API_PREFIX, DB, found_by, require
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.wire_types import IsoDateTime

router = APIRouter(route_class=OneTripRoute, prefix=f"{API_PREFIX}/inventory", tags=["inventory"])


@router.post("/receipts", response_model=list[schemas.ContainerOut], status_code=201)
def receive(data: schemas.ReceiveIn, actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
            db: Session = DB) -> list[schemas.ContainerOut]:
    """Containers received on a supplier's invoice into a cabinet."""
    made = service.receive(db=db, data=data, actor=actor)
    return [c for c in service.containers_at(db, actor) if c.id in {m.id for m in made}]


@router.get("/containers", response_model=list[schemas.ContainerOut])
def containers(actor: Actor = Depends(require(Permission.INVENTORY_USE)),
               db: Session = DB) -> list[schemas.ContainerOut]:
    """Containers with stock at the caller's sites, with what each holds now."""
    return service.containers_at(db, actor)


def _movement(kind: str, data: schemas.SessionMovementIn, actor: Actor,
              db: Session) -> schemas.TxnOut:
    txn = service.movement(db=db, kind=kind, data=data, actor=actor)
    return schemas.TxnOut(txn_id=txn)


@router.post("/draws", response_model=schemas.TxnOut, status_code=201)
def draw(data: schemas.SessionMovementIn, actor: Actor = Depends(require(Permission.INVENTORY_USE)),
         db: Session = DB) -> schemas.TxnOut:
    """Draw from a container for a treatment session."""
    return _movement("draw", data, actor, db)


@router.post("/doses", response_model=schemas.TxnOut, status_code=201)
def give(data: schemas.SessionMovementIn, actor: Actor = Depends(require(Permission.INVENTORY_USE)),
         db: Session = DB) -> schemas.TxnOut:
    """Record the dose given from what was drawn for the session."""
    return _movement("give", data, actor, db)


@router.post("/wastes", response_model=schemas.TxnOut, status_code=201)
def waste(data: schemas.SessionMovementIn, actor: Actor = Depends(require(Permission.INVENTORY_USE)),
          db: Session = DB) -> schemas.TxnOut:
    """Waste the rest of a draw; the witness authenticates with their own credentials."""
    return _movement("waste", data, actor, db)


@router.post("/transfers", response_model=schemas.TxnOut, status_code=201)
def transfer(data: schemas.TransferIn,
             actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
             db: Session = DB) -> schemas.TxnOut:
    """Move a container to another cabinet at the caller's sites."""
    held = service.container(db, data.container_id, actor)
    txn = ledger.transfer(db=db, container_pk=held.pk,
                          to=service.location(db, data.location_id, actor), actor=actor)
    return schemas.TxnOut(txn_id=txn)


@router.post("/adjustments", response_model=schemas.TxnOut, status_code=201)
def adjust(data: schemas.AdjustIn, actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
           db: Session = DB) -> schemas.TxnOut:
    """Correct a container's count with a reason and a witness."""
    held = service.container(db, data.container_id, actor)
    if data.delta_mg == 0:
        raise invalid("delta_mg", "a correction of 0 mg changes nothing", "a non-zero number")
    txn = ledger.adjust(db=db, container_pk=held.pk, delta=data.delta_mg.quantize(ledger.MG),
                        reason=data.reason,
                        witness_user=service.witness_of(db, data.witness, actor,
                                                        service.site_of(db, held.pk)),
                        actor=actor)
    return schemas.TxnOut(txn_id=txn)


@router.post("/transactions/{txn_id}/reversal", response_model=schemas.TxnOut, status_code=201)
def reverse(txn_id: uuid.UUID, data: schemas.ReverseIn,
            actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
            db: Session = DB) -> schemas.TxnOut:
    """Undo a transaction by its mirror image, with a reason."""
    site_pk = service.site_of_txn(db, txn_id, actor)
    witness_user = (service.witness_of(db, data.witness, actor, site_pk) if data.witness
                    else None)
    txn = ledger.reverse(db=db, txn_id=txn_id, reason=data.reason, actor=actor,
                         witness_user=witness_user)
    return schemas.TxnOut(txn_id=txn)


@router.get("/inventory", response_model=schemas.InventoryOut)
def inventory(as_of: IsoDateTime | None = None,
              actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
              db: Session = DB) -> schemas.InventoryOut:
    """Stock at the caller's sites as of a moment (default now), reconstructed from the ledger."""
    moment = as_of or clock.now()
    if moment.tzinfo is None:
        raise invalid("as_of", "has no time zone", "ISO 8601 with offset")
    return service.inventory(db=db, as_of=moment, actor=actor)


@router.get("/products", response_model=list[schemas.ProductOut])
def list_products(actor: Actor = Depends(require(Permission.INVENTORY_VIEW)),
                  db: Session = DB) -> list[schemas.ProductOut]:
    """Every product the clinic stocks."""
    return [schemas.ProductOut.model_validate(p, from_attributes=True)
            for p in catalogue.products(db)]


@router.post("/products", response_model=schemas.ProductOut, status_code=201)
def add_product(data: schemas.ProductIn,
                actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
                db: Session = DB) -> schemas.ProductOut:
    """Add a product (NDC, strength, container size)."""
    product = catalogue.add_product(db=db, data=data, actor=actor)
    return schemas.ProductOut.model_validate(product, from_attributes=True)


@router.get("/cabinets", response_model=list[schemas.CabinetOut])
def list_cabinets(actor: Actor = Depends(require(Permission.INVENTORY_VIEW)),
                  db: Session = DB) -> list[schemas.CabinetOut]:
    """The locked cabinets at the caller's sites."""
    return [schemas.CabinetOut(id=c.id, site=s.code, name=c.name)
            for c, s in catalogue.cabinets(db, actor)]


@router.post("/cabinets", response_model=schemas.CabinetOut, status_code=201)
def add_cabinet(data: schemas.CabinetIn,
                actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
                db: Session = DB) -> schemas.CabinetOut:
    """Add a locked cabinet at one of the caller's sites."""
    cabinet = catalogue.add_cabinet(db=db, data=data, actor=actor)
    return schemas.CabinetOut(id=cabinet.id, site=data.site.strip().upper(), name=cabinet.name)


def _dispose(kind: str, data: schemas.DisposalIn, actor: Actor, db: Session) -> schemas.TxnOut:
    held = service.container(db, data.container_id, actor)
    witness_user = service.witness_of(db, data.witness, actor, service.site_of(db, held.pk)) if (
        data.witness or kind == "destroy") else None
    txn = ledger.dispose(db=db, container_pk=held.pk, kind=kind, reason=data.reason, actor=actor,
                         witness_user=witness_user)
    return schemas.TxnOut(txn_id=txn)


@router.post("/destructions", response_model=schemas.TxnOut, status_code=201)
def destroy(data: schemas.DisposalIn, actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
            db: Session = DB) -> schemas.TxnOut:
    """Destroy a container's stock (expired, damaged), witnessed: the DEA Form 41 record."""
    return _dispose("destroy", data, actor, db)


@router.post("/returns", response_model=schemas.TxnOut, status_code=201)
def return_stock(data: schemas.DisposalIn,
                 actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
                 db: Session = DB) -> schemas.TxnOut:
    """Return a container to the supplier or a reverse distributor."""
    return _dispose("return", data, actor, db)


def count_out(db: Session, count: StockCount) -> schemas.CountOut:
    """A count with its lines."""
    return schemas.CountOut(
        id=count.id, counted_at=count.counted_at, counted_by=count.counted_by,
        second_counter=count.second_counter, variances=count.variances,
        lines=[schemas.CountLineOut(container=c.label, expected_mg=line.expected_mg,
                                    counted_mg=line.counted_mg)
               for line, c in counts.lines_of(db, count)])


@router.post("/counts", response_model=schemas.CountOut, status_code=201)
def record_count(data: schemas.CountIn, actor: Actor = Depends(require(Permission.INVENTORY_USE)),
                 db: Session = DB) -> schemas.CountOut:
    """A cabinet counted by two people; each variance from the ledger opens a discrepancy."""
    cabinet = service.location(db, data.location_id, actor)
    second = service.witness_of(db, data.second_counter, actor, cabinet.site_pk)
    count = counts.record(db=db, cabinet=cabinet, first=data.first, second=data.second,
                          second_counter=second, actor=actor)
    return count_out(db, count)


@router.get("/discrepancies", response_model=list[schemas.DiscrepancyOut])
def list_discrepancies(include_resolved: bool = False,
                       actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
                       db: Session = DB) -> list[schemas.DiscrepancyOut]:
    """Discrepancies at the caller's sites, open first."""
    return [schemas.DiscrepancyOut.model_validate(d, from_attributes=True)
            for d in discrepancies.listed(db, actor, include_resolved=include_resolved)]


@router.post("/discrepancies/{discrepancy_id}/resolution", response_model=schemas.DiscrepancyOut)
def resolve(discrepancy_id: str, data: schemas.ResolveIn,
            actor: Actor = Depends(require(Permission.INVENTORY_MANAGE)),
            db: Session = DB,
            found: Discrepancy = found_by(discrepancies.get, Permission.INVENTORY_MANAGE,
                                          "discrepancy_id")) -> schemas.DiscrepancyOut:
    """Resolve a discrepancy with a reason (with a witness, the ledger is brought in line)."""
    witness_user = (service.witness_of(db, data.witness, actor, found.site_pk) if data.witness
                    else None)
    resolved = discrepancies.resolve(db=db, discrepancy=found, reason=data.reason, actor=actor,
                                     witness_user=witness_user)
    return schemas.DiscrepancyOut.model_validate(resolved, from_attributes=True)


@router.get("/sessions/{treatment_session_id}/reconciliation", response_model=schemas.ReconciliationOut)
def reconciliation(treatment_session_id: str, actor: Actor = Depends(require(Permission.INVENTORY_VIEW)),
                   db: Session = DB) -> schemas.ReconciliationOut:
    """Where the mg drawn for a session went, and what still stops it closing."""
    treated, _ = service.treatment_session(db, treatment_session_id, actor)
    f = reconcile.figures(db, treated)
    return schemas.ReconciliationOut(
        drawn_mg=f.drawn, given_mg=f.given, wasted_mg=f.wasted, lost_mg=f.lost, held_mg=f.held,
        charted_mg=f.charted,
        problems=f.problems(reconcile.keeps_stock(db, treated.site_pk)))
