"""Shift or daily counts: two people count every container in a cabinet; a variance from the
ledger opens a discrepancy."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth.models import User
from ketaclinic.db import by_public_id
from ketaclinic.errors import FieldProblem, InvalidInput
from ketaclinic.inventory import catalogue, ledger
from ketaclinic.inventory.models import (
    Container,
    Discrepancy,
    Lot,
    Product,
    StockCount,
    StockCountLine,
    StorageLocation,
)
from ketaclinic.kernel.actor import Actor


@dataclass(frozen=True)
class ToCount:
    """A container the ledger says is in the cabinet (what it should hold is not shown: the count
    is blind)."""

    container: Container
    product: Product
    lot: Lot
    expected_mg: Decimal


def to_count(db: Session, cabinet: StorageLocation) -> list[ToCount]:
    """Every container with stock in the cabinet now, by label."""
    rows = ledger.inventory_as_of(db, clock.now(), [cabinet.pk])
    if not rows:
        return []
    found = catalogue.describe(db, [r["container_pk"] for r in rows])
    items = []
    for r in rows:
        container, lot, product = found[r["container_pk"]]
        items.append(ToCount(container, product, lot, expected_mg=r["quantity_mg"]))
    return sorted(items, key=lambda t: t.container.label)


def _counted(field: str, label: str, value: object) -> Decimal:
    try:
        amount = Decimal(str(value).strip()).quantize(ledger.MG)
    except (ArithmeticError, ValueError):
        raise InvalidInput([FieldProblem(field, f"{label}: {value!r} is not a quantity",
                                         "mg, e.g. 460 or 0")]) from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInput([FieldProblem(field, f"{label}: {value!r}", "0 mg or more")])
    return amount


def record(*, db: Session, cabinet: StorageLocation, first: Mapping[str, object],
           second: Mapping[str, object], second_counter: User, actor: Actor) -> StockCount:
    """Store a count both people agree on; each variance from the ledger opens a discrepancy.

    `first` and `second` map container labels to what each person counted (mg).
    """
    items = to_count(db, cabinet)
    problems = []
    agreed: dict[str, Decimal] = {}
    for item in items:
        label = item.container.label
        if label not in first or label not in second or not str(first[label]).strip() \
                or not str(second[label]).strip():
            problems.append(FieldProblem(f"count.{label}", f"{label} was not counted by both",
                                         "a count from each person"))
            continue
        mine = _counted(f"count.{label}", label, first[label])
        theirs = _counted(f"second.{label}", label, second[label])
        if mine != theirs:
            problems.append(FieldProblem(f"count.{label}", f"{label}: the two counts differ "
                                         f"({mine.normalize():f} and {theirs.normalize():f} mg)",
                                         "count it again together and enter the same figure"))
        agreed[label] = mine
    if problems:
        raise InvalidInput(problems)
    now = clock.now()
    count = StockCount(location_pk=cabinet.pk, counted_at=now, counted_by=actor.username,
                       second_counter=second_counter.username, created_by=actor.username)
    db.add(count)
    db.flush()
    variances = 0
    for item in items:
        counted = agreed[item.container.label]
        db.add(StockCountLine(count_pk=count.pk, container_pk=item.container.pk,
                              expected_mg=item.expected_mg, counted_mg=counted))
        if counted != item.expected_mg:
            variances += 1
            db.add(Discrepancy(
                site_pk=cabinet.site_pk, kind="count", count_pk=count.pk,
                container_pk=item.container.pk, expected_mg=item.expected_mg, found_mg=counted,
                detail=f"{cabinet.name}: {item.container.label} ({item.product.name}, lot "
                       f"{item.lot.lot_number}) counted {counted.normalize():f} mg; the ledger "
                       f"says {item.expected_mg.normalize():f} mg",
                opened_at=now, created_by=actor.username))
    count.variances = variances
    db.flush()
    audit.record(db=db, actor=actor, action="inventory count", record_type="StockCount",
                 record_id=count.id, detail=f"{cabinet.name}: {len(items)} containers, "
                 f"{variances} variance(s); second counter {second_counter.username}")
    return count


def lines_of(db: Session, count: StockCount) -> Sequence[tuple[StockCountLine, Container]]:
    """The count's lines with their containers."""
    return db.execute(select(StockCountLine, Container).join(
        Container, Container.pk == StockCountLine.container_pk).where(
        StockCountLine.count_pk == count.pk).order_by(Container.label)).all()


def recent(db: Session, location_pks: Sequence[int], limit: int = 10) -> Sequence[StockCount]:
    """The latest counts of some cabinets, newest first."""
    return db.execute(select(StockCount).where(StockCount.location_pk.in_(location_pks))
                      .order_by(StockCount.counted_at.desc()).limit(limit)).scalars().all()


def by_id(db: Session, count_id: object) -> StockCount:
    """A stored count by its id (404 when there is none; the caller checks the cabinet)."""
    return by_public_id(db, StockCount, count_id, "count")
