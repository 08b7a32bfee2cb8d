"""A site's price list: prices, packages and sliding-scale bands, each valid from a date on (old
invoices keep the prices they were charged at)."""

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit import service as audit
from ketaclinic.billing.models import Package, PriceItem, SlidingScaleBand
from ketaclinic.clinics.models import Site
from ketaclinic.errors import invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import billing as rules

KETAMINE_MG = "ketamine-mg"


def items() -> list[str]:
    """Every item a price can be set for: the table's codes and ketamine per mg."""
    return [*rules.code_names(), KETAMINE_MG]


def currency() -> str:
    """The currency every amount is in."""
    return rules.currency()


def set_price(*, db: Session, site: Site, item: str, amount_cents: int, effective_from: date,
              actor: Actor) -> PriceItem:
    """A price for an item from a date on."""
    if item not in items():
        raise invalid("item", f"{item!r} is not a billable item", ", ".join(items()))
    if amount_cents < 0:
        raise invalid("amount_cents", f"{amount_cents}", "0 or more (integer cents)")
    row = PriceItem(site_pk=site.pk, item=item, amount_cents=amount_cents, currency=currency(),
                    effective_from=effective_from, created_by=actor.username)
    db.add(row)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="PriceItem", record_id=row.id,
                 detail=f"{site.code} {item} {amount_cents} cents from {effective_from}")
    return row


def price_on(db: Session, site_pk: int, item: str, day: date) -> PriceItem | None:
    """The price in force on a day (the latest set on or before it)."""
    return db.execute(select(PriceItem).where(
        PriceItem.site_pk == site_pk, PriceItem.item == item, PriceItem.effective_from <= day)
        .order_by(PriceItem.effective_from.desc(), PriceItem.pk.desc()).limit(1)
    ).scalar_one_or_none()


def require_price(db: Session, site: Site, item: str, day: date) -> int:
    """The price in cents on a day, or InvalidInput saying which price is missing."""
    found = price_on(db, site.pk, item, day)
    if found is None:
        raise invalid("price", f"{site.code} has no price for {item} on {day}",
                      f"set one: ketaclinic billing price --site {site.code} --item {item} "
                      "--cents N --from YYYY-MM-DD")
    return found.amount_cents


def add_package(*, db: Session, site: Site, name: str, route: str, sessions: int,
                amount_cents: int, effective_from: date, actor: Actor) -> Package:
    """A price for a whole series."""
    if sessions < 1 or amount_cents < 0:
        raise invalid("sessions", "a package needs sessions and a price", "1 or more; 0 or more")
    row = Package(site_pk=site.pk, name=name.strip()[:100], route=route, sessions=sessions,
                  amount_cents=amount_cents, currency=currency(), effective_from=effective_from,
                  created_by=actor.username)
    db.add(row)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="Package", record_id=row.id,
                 detail=f"{site.code} {name}: {sessions} x {route} for {amount_cents} cents")
    return row


def package_on(db: Session, site_pk: int, route: str, sessions: int, day: date) -> Package | None:
    """The package for exactly this many sessions of a route in force on a day."""
    return db.execute(select(Package).where(
        Package.site_pk == site_pk, Package.route == route, Package.sessions == sessions,
        Package.effective_from <= day).order_by(Package.effective_from.desc(), Package.pk.desc())
        .limit(1)).scalar_one_or_none()


def add_band(*, db: Session, site: Site, name: str, income_up_to_cents: int, discount_pct: int,
             effective_from: date, actor: Actor) -> SlidingScaleBand:
    """A sliding-scale band: households earning up to an amount a year get a discount."""
    if not 0 < discount_pct <= 100:
        raise invalid("discount_pct", f"{discount_pct}", "1 to 100")
    row = SlidingScaleBand(site_pk=site.pk, name=name.strip()[:60],
                           income_up_to_cents=income_up_to_cents, discount_pct=discount_pct,
                           effective_from=effective_from, created_by=actor.username)
    db.add(row)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="SlidingScaleBand",
                 record_id=row.id, detail=f"{site.code} {name}: {discount_pct} %")
    return row


def bands_on(db: Session, site_pk: int, day: date) -> Sequence[SlidingScaleBand]:
    """The bands in force on a day, lowest income first."""
    return db.execute(select(SlidingScaleBand).where(
        SlidingScaleBand.site_pk == site_pk, SlidingScaleBand.effective_from <= day).order_by(
        SlidingScaleBand.income_up_to_cents)).scalars().all()


def discount_cents(amount_cents: int, pct: int) -> int:
    """A percentage of an amount, rounded half up to the cent (the table's rounding rule)."""
    return (amount_cents * pct + 50) // 100


def ketamine_cents(db: Session, site: Site, day: date, dose_mg: float) -> int:
    """The ketamine drug line for a dose: the per-mg price times the mg, rounded half up."""
    per_mg = require_price(db, site, KETAMINE_MG, day)
    return int((Decimal(per_mg) * Decimal(str(dose_mg))).quantize(Decimal(1), ROUND_HALF_UP))
