"""What the Today page lists beside the chairs and alerts: the day's appointments, the stock on
hand and the money owed, each for the roles that act on it."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ketaclinic.billing import reports as billing_reports
from ketaclinic.clinics.models import Site
from ketaclinic.inventory import service as inventory
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission, allows
from ketaclinic.scheduling import views

OWED_SHOWN = 8


@dataclass(frozen=True)
class StockLine:
    """One product on hand at the site."""

    product: str
    containers: int
    quantity_mg: Decimal
    devices: int


def appointments(db: Session, actor: Actor, site: Site, day: date) -> list[views.Block] | None:
    """The site's appointments of the day in time order (None when the role has no schedule)."""
    if not allows(actor.role, Permission.SCHEDULE_VIEW):
        return None
    shown = views.schedule(db, site, day, 1)
    return sorted((b for blocks in shown.blocks.values() for b in blocks),
                  key=lambda b: (b.local_start, b.label))


def stock(db: Session, actor: Actor, site: Site) -> list[StockLine] | None:
    """Controlled-substance stock on hand at the site, by product (None without the right)."""
    if not allows(actor.role, Permission.INVENTORY_VIEW):
        return None
    totals: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0), 0])
    for container in inventory.containers_at(db, actor, site.pk):
        line = totals[container.product]
        line[0] += 1
        line[1] += container.quantity_mg
        line[2] += container.devices
    return [StockLine(name, *line) for name, line in sorted(totals.items())]


def owed(db: Session, actor: Actor, site: Site) -> tuple[list[dict[str, Any]], int] | None:
    """The largest balances owed at the site and their total (None without the right)."""
    if not allows(actor.role, Permission.BILLING_RECORD):
        return None
    rows = billing_reports.outstanding(db, site)
    return rows[:OWED_SHOWN], sum(r["balance_cents"] for r in rows)
