"""Input and output shapes for the billing API. Money is integer cents with its currency."""

import uuid

from pydantic import BaseModel, Field

from ketaclinic.patients.schemas import InputModel
from ketaclinic.wire_types import IsoDate, IsoDateTime


class PriceIn(InputModel):
    """A price for an item at a site from a date on."""

    site: str = Field(min_length=1, max_length=8)
    item: str = Field(min_length=1, max_length=40, description="a billing code or ketamine-mg")
    amount_cents: int = Field(ge=0, le=100_000_000)
    effective_from: IsoDate


class PackageIn(InputModel):
    """A price for a whole series."""

    site: str = Field(min_length=1, max_length=8)
    name: str = Field(min_length=3, max_length=100)
    route: str = Field(pattern="^(iv|esketamine|im)$")
    sessions: int = Field(ge=1, le=60)
    amount_cents: int = Field(ge=0, le=100_000_000)
    effective_from: IsoDate


class BandIn(InputModel):
    """A sliding-scale band."""

    site: str = Field(min_length=1, max_length=8)
    name: str = Field(min_length=1, max_length=60)
    income_up_to_cents: int = Field(ge=0, le=10_000_000_000)
    discount_pct: int = Field(ge=1, le=100)
    effective_from: IsoDate


class EstimateIn(InputModel):
    """A planned course to estimate."""

    site: str = Field(min_length=1, max_length=8)
    route: str = Field(pattern="^(iv|esketamine|im)$")
    sessions: int = Field(ge=1, le=60)
    weight_kg: float | None = Field(default=None, gt=0, le=400)
    dose_mg: float | None = Field(default=None, gt=0, le=1000)
    band_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = Field(default=None, description="for the insurance share")
    on: IsoDate | None = None


class LineOut(BaseModel):
    """One line of an estimate or invoice."""

    label: str
    units: int
    unit_cents: int
    amount_cents: int
    basis: str


class EstimateOut(BaseModel):
    """An estimate: lines, totals, the patient's share."""

    route: str
    sessions: int
    dose_mg: float
    dose_basis: str
    currency: str
    lines: list[LineOut]
    total_cents: int
    insurance_expected_cents: int
    insurance_basis: str
    patient_pays_cents: int
    per_session_cents: int


class InvoiceOut(BaseModel):
    """An invoice as charged."""

    id: uuid.UUID
    service_date: IsoDate
    provider: str
    currency: str
    total_cents: int
    diagnoses: list[str]
    lines: list[LineOut]


class PaymentIn(InputModel):
    """Money received (a card's terminal reference only, never its number)."""

    site: str = Field(min_length=1, max_length=8)
    amount_cents: int = Field(gt=0, le=100_000_000)
    method: str = Field(pattern="^(cash|card|check|insurer)$")
    reference: str = Field(default="", max_length=100)
    note: str = Field(default="", max_length=300)


class AccountOut(BaseModel):
    """A patient's account: invoices, payments and the balance."""

    currency: str
    charged_cents: int
    paid_cents: int
    balance_cents: int
    invoices: list[InvoiceOut]
    payments: list[dict[str, object]]
    as_of: IsoDateTime


class PlanIn(InputModel):
    """A payment plan: an amount in equal instalments."""

    site: str = Field(min_length=1, max_length=8)
    total_cents: int = Field(gt=0, le=100_000_000)
    instalments: int = Field(ge=1, le=24)
    starts_on: IsoDate
    every_days: int = Field(default=30, ge=7, le=92)
    note: str = Field(default="", max_length=300)


class CoverageIn(InputModel):
    """A patient's insurance as the benefits check found it."""

    payer: str = Field(min_length=2, max_length=120)
    plan: str = Field(default="", max_length=120)
    member_id: str = Field(min_length=1, max_length=60)
    routes: list[str] = Field(default_factory=list, max_length=4,
                              description="routes the plan covers: iv, esketamine, im, oral")
    expected_pct: int = Field(default=0, ge=0, le=100)
    notes: str = Field(default="", max_length=500)


class AuthorizationIn(InputModel):
    """A prior authorisation."""

    route: str = Field(pattern="^(esketamine|iv|im)$")
    number: str = Field(default="", max_length=60)
    status: str = Field(pattern="^(requested|approved|denied)$")
    starts_on: IsoDate | None = None
    ends_on: IsoDate | None = None
    sessions_authorised: int = Field(default=0, ge=0, le=200)
