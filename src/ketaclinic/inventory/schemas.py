"""Input and output shapes for the controlled-substance ledger API."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from ketaclinic.patients.schemas import InputModel


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
    expires_on: date
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
    expires_on: date
    location: str | None
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

    as_of: datetime
    rows: list[InventoryRowOut]
    total_mg: Decimal
