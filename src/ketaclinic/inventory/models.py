"""Tables for the controlled-substance ledger: products, lots, containers, storage locations and
the append-only, double-entry ledger (the database refuses UPDATE and DELETE on it)."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Float, ForeignKey, Integer, Numeric, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic import clock
from ketaclinic.db import WIDE_KEY, Base, RecordMixin, UTCDateTime


class Product(RecordMixin, Base):
    """A stocked presentation: ketamine HCl vial by concentration and volume, or an esketamine device."""

    __tablename__ = "inventory_product"

    name: Mapped[str] = mapped_column(String(200))
    drug: Mapped[str] = mapped_column(String(20))  # ketamine, esketamine
    ndc: Mapped[str] = mapped_column(String(20), unique=True)
    mg_per_container: Mapped[float] = mapped_column(Float)
    concentration_mg_per_ml: Mapped[float | None] = mapped_column(Float, default=None)
    volume_ml: Mapped[float | None] = mapped_column(Float, default=None)
    devices_per_container: Mapped[int] = mapped_column(Integer, default=0)  # esketamine: 1 device
    schedule: Mapped[str] = mapped_column(String(10), default="CIII")


class StorageLocation(RecordMixin, Base):
    """A locked cabinet at a site."""

    __tablename__ = "inventory_location"

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))


class Lot(RecordMixin, Base):
    """A manufacturer's lot with its expiry, as received on a supplier's invoice."""

    __tablename__ = "inventory_lot"

    product_pk: Mapped[int] = mapped_column(ForeignKey("inventory_product.pk", ondelete="RESTRICT"))
    lot_number: Mapped[str] = mapped_column(String(60))
    expires_on: Mapped[date] = mapped_column(Date)
    supplier: Mapped[str] = mapped_column(String(200))
    invoice: Mapped[str] = mapped_column(String(100))


class Container(RecordMixin, Base):
    """One vial or device; what it holds and where it is derive from the ledger."""

    __tablename__ = "inventory_container"

    lot_pk: Mapped[int] = mapped_column(ForeignKey("inventory_lot.pk", ondelete="RESTRICT"), index=True)
    label: Mapped[str] = mapped_column(String(40), unique=True)


class LedgerRow(Base):
    """One side of a ledger transaction. Every transaction's rows add up to zero, mg and devices.

    Accounts: `stock` (a container at a location), `supplier`, `session` (drawn, not yet given or
    wasted), `patient` (given), `waste`, `destroyed`, `returned`, `adjustment`.
    """

    __tablename__ = "inventory_ledger"

    pk: Mapped[int] = mapped_column(WIDE_KEY, primary_key=True, autoincrement=True)
    txn_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    account: Mapped[str] = mapped_column(String(20))
    container_pk: Mapped[int] = mapped_column(ForeignKey("inventory_container.pk",
                                                         ondelete="RESTRICT"), index=True)
    location_pk: Mapped[int | None] = mapped_column(ForeignKey("inventory_location.pk",
                                                               ondelete="RESTRICT"), default=None)
    session_pk: Mapped[int | None] = mapped_column(ForeignKey("treatment_session.pk",
                                                              ondelete="RESTRICT"), default=None,
                                                   index=True)
    # mg to the microgram, exact (Decimal): balances are sums and must not drift
    quantity_mg: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    devices: Mapped[int] = mapped_column(Integer, default=0)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    actor: Mapped[str] = mapped_column(String(150))
    witness: Mapped[str | None] = mapped_column(String(150), default=None)
    prescriber: Mapped[str | None] = mapped_column(String(150), default=None)
    reason: Mapped[str] = mapped_column(String(500), default="")
    reverses: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # the keyed MAC of the row's content (inventory.integrity); the sealer chains it
    mac: Mapped[str] = mapped_column(String(64))


class Discrepancy(RecordMixin, Base):
    """Something the ledger and the real world disagree on: a treatment session whose drawn, given
    and wasted amounts do not add up, or a count that differs from the ledger. Open until an
    administrator resolves it with a reason; it stays on the record either way."""

    __tablename__ = "inventory_discrepancy"

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # session, count
    session_pk: Mapped[int | None] = mapped_column(ForeignKey("treatment_session.pk",
                                                              ondelete="RESTRICT"), default=None,
                                                   index=True)
    count_pk: Mapped[int | None] = mapped_column(ForeignKey("inventory_count.pk",
                                                            ondelete="RESTRICT"), default=None)
    container_pk: Mapped[int | None] = mapped_column(ForeignKey("inventory_container.pk",
                                                                ondelete="RESTRICT"), default=None)
    expected_mg: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    found_mg: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    detail: Mapped[str] = mapped_column(String(1000))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(150), default=None)
    resolution: Mapped[str] = mapped_column(String(1000), default="")
    # the write-off or adjustment that brought the ledger in line, when the resolution made one
    resolution_txn: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)


class StockCount(RecordMixin, Base):
    """A shift or daily count of one cabinet by two people who each authenticated."""

    __tablename__ = "inventory_count"

    location_pk: Mapped[int] = mapped_column(ForeignKey("inventory_location.pk",
                                                        ondelete="RESTRICT"), index=True)
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    counted_by: Mapped[str] = mapped_column(String(150))
    second_counter: Mapped[str] = mapped_column(String(150))
    variances: Mapped[int] = mapped_column(Integer, default=0)


class StockCountLine(Base):
    """One container's count against what the ledger said at the moment of the count."""

    __tablename__ = "inventory_count_line"

    pk: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    count_pk: Mapped[int] = mapped_column(ForeignKey("inventory_count.pk", ondelete="RESTRICT"),
                                          index=True)
    container_pk: Mapped[int] = mapped_column(ForeignKey("inventory_container.pk",
                                                         ondelete="RESTRICT"))
    expected_mg: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    counted_mg: Mapped[Decimal] = mapped_column(Numeric(14, 3))
