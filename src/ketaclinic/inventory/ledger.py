"""The controlled-substance ledger: every movement is a transaction of rows that add up to zero;
balances derive from the rows and never go negative; a mistake is reversed, never edited."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth import credentials
from ketaclinic.auth.models import User
from ketaclinic.errors import Conflict, Forbidden, NotFound, invalid
from ketaclinic.inventory import integrity
from ketaclinic.inventory.models import Container, LedgerRow, Lot, Product, StorageLocation
from ketaclinic.kernel.actor import Actor

STOCK, SUPPLIER, SESSION, PATIENT, WASTE = "stock", "supplier", "session", "patient", "waste"
DESTROYED, RETURNED, ADJUSTMENT, LOSS = "destroyed", "returned", "adjustment", "loss"
MG = Decimal("0.001")
WITNESS_ROLES = frozenset({"nurse", "prescriber"})


def mg(value: object, field: str = "quantity_mg") -> Decimal:
    """A positive quantity in mg, exact to the microgram."""
    try:
        amount = Decimal(str(value)).quantize(MG)
    except (ArithmeticError, ValueError):
        raise invalid(field, f"{value!r} is not a quantity", "mg, e.g. 35 or 12.5") from None
    if not amount.is_finite() or amount <= 0:
        raise invalid(field, f"{value!r} is not a positive quantity", "more than 0 mg")
    return amount


@dataclass(frozen=True)
class Side:
    """One row of a transaction before it is written."""

    account: str
    container_pk: int
    quantity_mg: Decimal
    devices: int = 0
    location_pk: int | None = None
    session_pk: int | None = None


def witness(*, db: Session, username: str, password: str, totp_code: str, actor: Actor) -> User:
    """A second licensed person who authenticates here with their own password (and TOTP)."""
    if username.strip().lower() == actor.username:
        raise invalid("witness", "the witness cannot be the person recording",
                      "another nurse or prescriber")
    result = credentials.check(db=db, username=username, password=password,
                               address=actor.client or f"witness for {actor.username}",
                               purpose="witness", code=totp_code)
    user = result.user
    if user is None:
        raise Forbidden(f"witness: {result.message}")
    if user.role not in WITNESS_ROLES:
        raise invalid("witness", f"{user.username} is not licensed to witness",
                      "a nurse or prescriber")
    return user


def _lock(db: Session, container_pk: int) -> Container:
    """The container, locked for this transaction (PostgreSQL row lock; SQLite writes serialise);
    FOR NO KEY UPDATE, so a writer that already added a row naming the container (holding its
    foreign key's KEY SHARE lock) cannot deadlock with another doing the same."""
    found = db.execute(select(Container).where(Container.pk == container_pk)
                       .with_for_update(key_share=True)).scalar_one_or_none()
    if found is None:
        raise NotFound("no such container")
    return found


def balance(db: Session, account: str, *, container_pk: int | None = None,
            session_pk: int | None = None, location_pk: int | None = None,
            as_of: datetime | None = None) -> tuple[Decimal, int]:
    """The mg and devices on an account (optionally for one container, session or location)."""
    query = select(func.coalesce(func.sum(LedgerRow.quantity_mg), 0),
                   func.coalesce(func.sum(LedgerRow.devices), 0)).where(LedgerRow.account == account)
    if container_pk is not None:
        query = query.where(LedgerRow.container_pk == container_pk)
    if session_pk is not None:
        query = query.where(LedgerRow.session_pk == session_pk)
    if location_pk is not None:
        query = query.where(LedgerRow.location_pk == location_pk)
    if as_of is not None:
        query = query.where(LedgerRow.occurred_at <= as_of)
    total, devices = db.execute(query).one()
    return Decimal(total).quantize(MG), int(devices)


def location_of(db: Session, container_pk: int) -> int | None:
    """Where a container's stock is (None once it is empty)."""
    rows = db.execute(select(LedgerRow.location_pk, func.sum(LedgerRow.quantity_mg)).where(
        LedgerRow.account == STOCK, LedgerRow.container_pk == container_pk).group_by(
        LedgerRow.location_pk)).all()
    return next((loc for loc, total in rows if Decimal(total) > 0), None)


def post(*, db: Session, kind: str, sides: list[Side], actor: Actor, reason: str = "",
         witness_user: str | None = None, prescriber: str | None = None,
         occurred_at: datetime | None = None, reverses: uuid.UUID | None = None,
         patient_id: object = None) -> uuid.UUID:
    """Write one balanced transaction after checking no account goes negative."""
    if sum((s.quantity_mg for s in sides), Decimal(0)) != 0 or sum(s.devices for s in sides) != 0:
        raise ValueError("a ledger transaction must add up to zero")  # a programming error
    for pk in sorted({s.container_pk for s in sides}):
        _lock(db, pk)
    for side in sides:
        if side.account in (STOCK, SESSION) and (side.quantity_mg < 0 or side.devices < 0):
            held, devices = balance(db, side.account, container_pk=side.container_pk,
                                    session_pk=side.session_pk,
                                    location_pk=side.location_pk if side.account == STOCK else None)
            if held + side.quantity_mg < 0 or devices + side.devices < 0:
                where = "in stock" if side.account == STOCK else "drawn for this session"
                raise Conflict(f"only {held} mg ({devices} devices) {where}; "
                               f"{-side.quantity_mg} mg asked")
    txn = uuid.uuid4()
    moment = occurred_at or clock.now()
    written = clock.now()
    integrity.write(db, [LedgerRow(txn_id=txn, kind=kind, account=s.account,
                                   container_pk=s.container_pk, location_pk=s.location_pk,
                                   session_pk=s.session_pk, quantity_mg=s.quantity_mg,
                                   devices=s.devices, occurred_at=moment, recorded_at=written,
                                   actor=actor.username, witness=witness_user,
                                   prescriber=prescriber, reason=reason[:500], reverses=reverses)
                         for s in sides])
    moved = sum((s.quantity_mg for s in sides if s.quantity_mg > 0), Decimal(0))
    audit.record(db=db, actor=actor, action=f"inventory {kind}", record_type="LedgerTxn",
                 record_id=txn, patient_id=patient_id,
                 detail=f"{moved} mg; containers {sorted({s.container_pk for s in sides})}"
                        + (f"; witness {witness_user}" if witness_user else "")
                        + (f"; {reason}" if reason else ""))
    return txn


def receive(*, db: Session, product: Product, lot_number: str, expires_on: date, supplier: str,
            invoice: str, location: StorageLocation, count: int, actor: Actor,
            occurred_at: datetime | None = None) -> list[Container]:
    """Containers received on an invoice into a cabinet, each full."""
    if not 1 <= count <= 1000:
        raise invalid("count", f"{count} containers", "1 to 1000")
    if not lot_number.strip() or not invoice.strip() or not supplier.strip():
        raise invalid("lot_number", "lot, supplier and invoice are all required",
                      "the invoice's lot number, supplier and invoice number")
    lot = Lot(product_pk=product.pk, lot_number=lot_number.strip()[:60], expires_on=expires_on,
              supplier=supplier.strip()[:200], invoice=invoice.strip()[:100],
              created_by=actor.username)
    db.add(lot)
    db.flush()
    containers = []
    base = db.execute(select(func.count()).select_from(Container)).scalar_one()
    for number in range(count):
        container = Container(lot_pk=lot.pk, label=f"C{base + number + 1:06d}",
                              created_by=actor.username)
        db.add(container)
        db.flush()
        amount = Decimal(str(product.mg_per_container)).quantize(MG)
        devices = product.devices_per_container
        post(db=db, kind="receive", actor=actor, occurred_at=occurred_at,
             reason=f"invoice {invoice} from {supplier}", sides=[
                 Side(SUPPLIER, container.pk, -amount, -devices),
                 Side(STOCK, container.pk, amount, devices, location_pk=location.pk)])
        containers.append(container)
    return containers


def _devices_for(db: Session, container_pk: int, amount: Decimal) -> int:
    product = db.execute(select(Product).join(Lot, Lot.product_pk == Product.pk).join(
        Container, Container.lot_pk == Lot.pk).where(Container.pk == container_pk)).scalar_one()
    if not product.devices_per_container:
        return 0
    per_device = Decimal(str(product.mg_per_container)) / product.devices_per_container
    if amount % per_device:
        raise invalid("quantity_mg", f"{amount} mg is not a whole number of devices",
                      f"multiples of {per_device.normalize()} mg")
    return int(amount / per_device)


def draw(*, db: Session, container_pk: int, amount: Decimal, session_pk: int, actor: Actor,
         patient_id: object = None, occurred_at: datetime | None = None) -> uuid.UUID:
    """Take a quantity out of stock for a treatment session."""
    location = location_of(db, container_pk)
    if location is None:
        raise Conflict("the container is empty")
    devices = _devices_for(db, container_pk, amount)
    return post(db=db, kind="draw", actor=actor, patient_id=patient_id, occurred_at=occurred_at,
                sides=[Side(STOCK, container_pk, -amount, -devices, location_pk=location),
                       Side(SESSION, container_pk, amount, devices, session_pk=session_pk)])


def give(*, db: Session, container_pk: int, amount: Decimal, session_pk: int, prescriber: str,
         actor: Actor, patient_id: object = None, occurred_at: datetime | None = None) -> uuid.UUID:
    """Record what was given to the patient from what was drawn for the session."""
    devices = _devices_for(db, container_pk, amount)
    return post(db=db, kind="administer", actor=actor, prescriber=prescriber, patient_id=patient_id,
                occurred_at=occurred_at,
                sides=[Side(SESSION, container_pk, -amount, -devices, session_pk=session_pk),
                       Side(PATIENT, container_pk, amount, devices, session_pk=session_pk)])


def waste(*, db: Session, container_pk: int, amount: Decimal, session_pk: int, witness_user: User,
          actor: Actor, patient_id: object = None, occurred_at: datetime | None = None) -> uuid.UUID:
    """Waste the unused part of a draw, witnessed."""
    devices = _devices_for(db, container_pk, amount)
    return post(db=db, kind="waste", actor=actor, witness_user=witness_user.username,
                patient_id=patient_id, occurred_at=occurred_at,
                sides=[Side(SESSION, container_pk, -amount, -devices, session_pk=session_pk),
                       Side(WASTE, container_pk, amount, devices, session_pk=session_pk)])


def transfer(*, db: Session, container_pk: int, to: StorageLocation, actor: Actor,
             occurred_at: datetime | None = None) -> uuid.UUID:
    """Move a container's whole stock to another cabinet."""
    location = location_of(db, container_pk)
    if location is None:
        raise Conflict("the container is empty")
    if location == to.pk:
        raise invalid("to", "the container is already there", "another cabinet")
    held, devices = balance(db, STOCK, container_pk=container_pk, location_pk=location)
    return post(db=db, kind="transfer", actor=actor, occurred_at=occurred_at,
                sides=[Side(STOCK, container_pk, -held, -devices, location_pk=location),
                       Side(STOCK, container_pk, held, devices, location_pk=to.pk)])


def adjust(*, db: Session, container_pk: int, delta: Decimal, reason: str, witness_user: User,
           actor: Actor, occurred_at: datetime | None = None) -> uuid.UUID:
    """Correct a container's count (positive or negative), with a reason and a witness."""
    if len(reason.strip()) < 5:
        raise invalid("reason", "say why the count is corrected", "a short reason")
    location = location_of(db, container_pk) or _last_location(db, container_pk)
    return post(db=db, kind="adjust", actor=actor, witness_user=witness_user.username,
                reason=reason, occurred_at=occurred_at,
                sides=[Side(STOCK, container_pk, delta, 0, location_pk=location),
                       Side(ADJUSTMENT, container_pk, -delta, 0)])


def dispose(*, db: Session, container_pk: int, kind: str, reason: str, actor: Actor,
            witness_user: User | None = None, occurred_at: datetime | None = None) -> uuid.UUID:
    """Take a container's whole stock out of the cabinet: destroyed (witnessed, DEA Form 41) or
    returned to the supplier or a reverse distributor."""
    account = {"destroy": DESTROYED, "return": RETURNED}[kind]
    if kind == "destroy" and witness_user is None:
        raise invalid("witness", "destruction needs a witness", "a second nurse or prescriber")
    if len(reason.strip()) < 5:
        raise invalid("reason", f"say why and how the stock is {account}",
                      "e.g. 'expired; rendered non-retrievable' or 'returned to supplier, RMA 123'")
    location = location_of(db, container_pk)
    if location is None:
        raise Conflict("the container is empty")
    held, devices = balance(db, STOCK, container_pk=container_pk, location_pk=location)
    return post(db=db, kind=kind, actor=actor, reason=reason, occurred_at=occurred_at,
                witness_user=witness_user.username if witness_user else None,
                sides=[Side(STOCK, container_pk, -held, -devices, location_pk=location),
                       Side(account, container_pk, held, devices)])


def write_off(*, db: Session, container_pk: int, session_pk: int, reason: str, actor: Actor,
              witness_user: User) -> uuid.UUID:
    """Record as lost what was drawn for a session and is neither given nor wasted (witnessed)."""
    held, devices = balance(db, SESSION, container_pk=container_pk, session_pk=session_pk)
    if held <= 0:
        raise Conflict("nothing drawn for this session is unaccounted for")
    return post(db=db, kind="loss", actor=actor, reason=reason, witness_user=witness_user.username,
                sides=[Side(SESSION, container_pk, -held, -devices, session_pk=session_pk),
                       Side(LOSS, container_pk, held, devices, session_pk=session_pk)])


def _last_location(db: Session, container_pk: int) -> int | None:
    return db.execute(select(LedgerRow.location_pk).where(
        LedgerRow.container_pk == container_pk, LedgerRow.account == STOCK).order_by(
        LedgerRow.pk.desc()).limit(1)).scalar_one_or_none()


def reverse(*, db: Session, txn_id: uuid.UUID, reason: str, actor: Actor,
            witness_user: User | None = None, occurred_at: datetime | None = None) -> uuid.UUID:
    """Undo a transaction by its mirror image, with a reason; a reversal is never reversed again."""
    rows = db.execute(select(LedgerRow).where(LedgerRow.txn_id == txn_id)).scalars().all()
    if not rows:
        raise NotFound("no such ledger transaction")
    if rows[0].kind == "reverse":
        raise Conflict("a reversal cannot itself be reversed; record the correct entry instead")
    if db.execute(select(LedgerRow.pk).where(LedgerRow.reverses == txn_id)).first():
        raise Conflict("this transaction has already been reversed")
    if len(reason.strip()) < 5:
        raise invalid("reason", "say why the entry is reversed", "a short reason")
    if rows[0].kind in ("waste", "adjust", "destroy", "loss") and witness_user is None:
        raise invalid("witness", f"reversing a {rows[0].kind} needs a witness", "a second person")
    if rows[0].kind == "transfer":
        return _reverse_transfer(db, rows, reason, actor, occurred_at)

    def where(row: LedgerRow) -> int | None:
        # Stock comes back to (or leaves from) the cabinet the container is in now.
        if row.account != STOCK:
            return row.location_pk
        return location_of(db, row.container_pk) or row.location_pk

    return post(db=db, kind="reverse", actor=actor, reason=reason, reverses=txn_id,
                occurred_at=occurred_at,
                witness_user=witness_user.username if witness_user else None,
                sides=[Side(r.account, r.container_pk, -Decimal(r.quantity_mg), -r.devices,
                            location_pk=where(r), session_pk=r.session_pk) for r in rows])


def _reverse_transfer(db: Session, rows: Sequence[LedgerRow], reason: str, actor: Actor,
                      occurred_at: datetime | None) -> uuid.UUID:
    """A transfer recorded by mistake: whatever the container holds goes back where it came from
    (refused if it has moved on since)."""
    source = next(r.location_pk for r in rows if Decimal(r.quantity_mg) < 0)
    destination = next(r.location_pk for r in rows if Decimal(r.quantity_mg) > 0)
    container_pk = rows[0].container_pk
    if location_of(db, container_pk) != destination:
        raise Conflict("the container has moved or been used up since; record a new transfer")
    held, devices = balance(db, STOCK, container_pk=container_pk, location_pk=destination)
    return post(db=db, kind="reverse", actor=actor, reason=reason, reverses=rows[0].txn_id,
                occurred_at=occurred_at,
                sides=[Side(STOCK, container_pk, -held, -devices, location_pk=destination),
                       Side(STOCK, container_pk, held, devices, location_pk=source)])


def inventory_as_of(db: Session, moment: datetime, location_pks: list[int] | None = None
                    ) -> list[dict[str, Any]]:
    """Every container with stock at a moment, reconstructed from the ledger."""
    query = (select(LedgerRow.container_pk, LedgerRow.location_pk,
                    func.sum(LedgerRow.quantity_mg), func.sum(LedgerRow.devices))
             .where(LedgerRow.account == STOCK, LedgerRow.occurred_at <= moment)
             .group_by(LedgerRow.container_pk, LedgerRow.location_pk))
    if location_pks is not None:
        query = query.where(LedgerRow.location_pk.in_(location_pks))
    found = []
    for container_pk, location_pk, total, devices in db.execute(query):
        if Decimal(total) > 0:
            found.append({"container_pk": container_pk, "location_pk": location_pk,
                          "quantity_mg": Decimal(total).quantize(MG), "devices": int(devices)})
    return sorted(found, key=lambda r: (r["location_pk"], r["container_pk"]))
