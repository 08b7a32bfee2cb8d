"""Tables for price lists (with effective dates), packages, sliding-scale bands, invoices and
their charge lines (prices copied in, so a later price change never alters them), and payments."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ketaclinic.db import Base, RecordMixin, UTCDateTime


class PriceItem(RecordMixin, Base):
    """A site's price for one billable item from a date on: a code (per unit) or a drug per mg."""

    __tablename__ = "price_item"
    __table_args__ = (Index("ix_price_item_site_item_from", "site_pk", "item", "effective_from"),)

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    item: Mapped[str] = mapped_column(String(40))  # a code (96365, G2083, J0013) or ketamine-mg
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[date] = mapped_column(Date)


class Package(RecordMixin, Base):
    """A price for a whole series (e.g. six IV infusions) from a date on."""

    __tablename__ = "price_package"

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(100))
    route: Mapped[str] = mapped_column(String(20))
    sessions: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[date] = mapped_column(Date)


class SlidingScaleBand(RecordMixin, Base):
    """A discount for households earning up to an amount a year, from a date on."""

    __tablename__ = "sliding_scale_band"

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(60))
    income_up_to_cents: Mapped[int] = mapped_column(Integer)
    discount_pct: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)


class Invoice(RecordMixin, Base):
    """What a patient owes for one treatment session (or other service), as charged that day."""

    __tablename__ = "invoice"

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"),
                                            index=True)
    session_pk: Mapped[int | None] = mapped_column(
        ForeignKey("treatment_session.pk", ondelete="RESTRICT"), unique=True, default=None)
    service_date: Mapped[date] = mapped_column(Date)
    provider: Mapped[str] = mapped_column(String(150))
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(Integer)
    # ICD-10-CM codes from the patient's active conditions on the day
    diagnoses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChargeLine(RecordMixin, Base):
    """One line of an invoice: code, units, the unit price of the day and why it was charged."""

    __tablename__ = "charge_line"

    invoice_pk: Mapped[int] = mapped_column(ForeignKey("invoice.pk", ondelete="RESTRICT"),
                                            index=True)
    code: Mapped[str] = mapped_column(String(20))
    code_system: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(String(200))
    units: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)
    basis: Mapped[str] = mapped_column(String(500))


class Payment(RecordMixin, Base):
    """Money received: cash, a card (its terminal reference only, never the number), a cheque
    or an insurer."""

    __tablename__ = "payment"

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"),
                                            index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(20))  # cash, card, check, insurer
    reference: Mapped[str] = mapped_column(String(100), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(300), default="")


class PaymentPlan(RecordMixin, Base):
    """An agreed schedule of instalments for an amount a patient owes."""

    __tablename__ = "payment_plan"

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"),
                                            index=True)
    total_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    starts_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(300), default="")


class Instalment(RecordMixin, Base):
    """One instalment of a payment plan."""

    __tablename__ = "payment_instalment"

    plan_pk: Mapped[int] = mapped_column(ForeignKey("payment_plan.pk", ondelete="RESTRICT"),
                                         index=True)
    number: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(Integer)


class Coverage(RecordMixin, Base):
    """A patient's insurance: payer, plan, member id, what the benefits check found."""

    __tablename__ = "coverage"

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"),
                                            index=True)
    payer: Mapped[str] = mapped_column(String(120))
    plan: Mapped[str] = mapped_column(String(120), default="")
    member_id: Mapped[str] = mapped_column(String(60))
    routes: Mapped[list[Any]] = mapped_column(JSON, default=list)  # routes the plan covers
    # the share the benefits check says the payer pays for a covered route (0 to 100)
    expected_pct: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str] = mapped_column(String(500), default="")
    active: Mapped[bool] = mapped_column(default=True)


class PriorAuthorization(RecordMixin, Base):
    """A payer's prior authorisation (esketamine): number, dates, sessions authorised."""

    __tablename__ = "prior_authorization"

    coverage_pk: Mapped[int] = mapped_column(ForeignKey("coverage.pk", ondelete="RESTRICT"),
                                             index=True)
    route: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(60), default="")
    status: Mapped[str] = mapped_column(String(20))  # requested, approved, denied
    starts_on: Mapped[date | None] = mapped_column(Date, default=None)
    ends_on: Mapped[date | None] = mapped_column(Date, default=None)
    sessions_authorised: Mapped[int] = mapped_column(Integer, default=0)
