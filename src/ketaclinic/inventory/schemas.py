"""Input and output shapes for the controlled-substance ledger API."""

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from ketaclinic.patients.schemas import InputModel
from ketaclinic.wire_types import IsoDate, IsoDateTime


class WitnessIn(InputModel):
    """The second person's own credentials (TOTP where they use it)."""

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=200)
    totp_code: str = Field(default="", max_length=10)


class ReceiveIn(InputModel):
    """Containers received on a supplier's invoice into a cabinet."""

    product_id: uuid.UUID
    location_id: uuid.UUID
    lot_number: str = Field(min_length=1, max_length=60)
    expires_on: IsoDate
    supplier: str = Field(min_length=1, max_length=200)
    invoice: str = Field(min_length=1, max_length=100)
    count: int = Field(ge=1, le=1000)


class SessionMovementIn(InputModel):
    """A draw, a dose given, or a waste, against a treatment session."""

    container_id: uuid.UUID
    session_id: uuid.UUID
    quantity_mg: Decimal = Field(gt=0, le=100000, decimal_places=3)
    prescriber: str = Field(default="", max_length=150, description="who ordered (dose given)")
    witness: WitnessIn | None = None


class AdjustIn(InputModel):
    """A count correction with its reason and witness."""

    container_id: uuid.UUID
    delta_mg: Decimal = Field(ge=-100000, le=100000, decimal_places=3)
    reason: str = Field(min_length=5, max_length=500)
    witness: WitnessIn


class TransferIn(InputModel):
    """Move a container to another cabinet."""

    container_id: uuid.UUID
    location_id: uuid.UUID


class ReverseIn(InputModel):
    """Undo a ledger transaction with a reason (witnessed for a waste or adjustment)."""

    reason: str = Field(min_length=5, max_length=500)
    witness: WitnessIn | None = None


class TxnOut(BaseModel):
    """The transaction written."""

    txn_id: uuid.UUID


class ContainerOut(BaseModel):
    """A container and what it holds now."""

    id: uuid.UUID
    label: str
    product: str
    lot_number: str
    expires_on: IsoDate
    location: str | None
    location_id: uuid.UUID | None = Field(description="the cabinet; names repeat across sites")
    quantity_mg: Decimal
    devices: int


class InventoryRowOut(BaseModel):
    """One container's stock as of a moment."""

    container: str
    product: str
    lot_number: str
    location: str
    quantity_mg: Decimal
    devices: int


class InventoryOut(BaseModel):
    """Stock as of a moment, reconstructed from the ledger."""

    as_of: IsoDateTime
    rows: list[InventoryRowOut]
    total_mg: Decimal


class ProductIn(InputModel):
    """A stocked presentation: a ketamine vial by concentration and volume, or esketamine device."""

    name: str = Field(min_length=3, max_length=200)
    drug: Literal["ketamine", "esketamine"]
    ndc: str = Field(pattern=r"^\d{4,5}-\d{3,4}-\d{1,2}$", description="NDC as printed, e.g. 50458-028-00")
    mg_per_container: Decimal = Field(gt=0, le=100000, decimal_places=3)
    concentration_mg_per_ml: Decimal | None = Field(default=None, gt=0, le=1000)
    volume_ml: Decimal | None = Field(default=None, gt=0, le=1000)
    devices_per_container: int = Field(default=0, ge=0, le=10)


class ProductOut(BaseModel):
    """A product the clinic stocks."""

    id: uuid.UUID
    name: str
    drug: str
    ndc: str
    mg_per_container: float
    devices_per_container: int


class CabinetIn(InputModel):
    """A locked cabinet at a site."""

    site: str = Field(min_length=1, max_length=8, description="site code")
    name: str = Field(min_length=1, max_length=100)


class CabinetOut(BaseModel):
    """A cabinet and its site."""

    id: uuid.UUID
    site: str
    name: str


class DisposalIn(InputModel):
    """A container's whole stock destroyed (witnessed) or returned to the supplier."""

    container_id: uuid.UUID
    reason: str = Field(min_length=5, max_length=500)
    witness: WitnessIn | None = None


class CountIn(InputModel):
    """A cabinet counted by two people: container label to mg, one map per person."""

    location_id: uuid.UUID
    first: dict[str, str] = Field(description="the recording person's count per container label")
    second: dict[str, str] = Field(description="the second person's count per container label")
    second_counter: WitnessIn


class CountLineOut(BaseModel):
    """One container's count against the ledger."""

    container: str
    expected_mg: Decimal
    counted_mg: Decimal


class CountOut(BaseModel):
    """A stored count and its variances."""

    id: uuid.UUID
    counted_at: IsoDateTime
    counted_by: str
    second_counter: str
    variances: int
    lines: list[CountLineOut]


class DiscrepancyOut(BaseModel):
    """A discrepancy for the administrator: open until resolved with a reason."""

    id: uuid.UUID
    kind: str
    detail: str
    expected_mg: Decimal
    found_mg: Decimal
    opened_at: IsoDateTime
    resolved_at: IsoDateTime | None
    resolved_by: str | None
    resolution: str
    resolution_txn: uuid.UUID | None


class ResolveIn(InputModel):
    """How a discrepancy was resolved; with a witness, the ledger is brought in line too."""

    reason: str = Field(min_length=10, max_length=1000)
    witness: WitnessIn | None = None


class ReconciliationOut(BaseModel):
    """Where the mg drawn for a session went, and why it cannot close yet (if so)."""

    drawn_mg: Decimal
    given_mg: Decimal
    wasted_mg: Decimal
    lost_mg: Decimal
    held_mg: Decimal
    charted_mg: Decimal | None
    problems: list[str]
