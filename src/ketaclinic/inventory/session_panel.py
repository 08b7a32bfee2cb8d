"""The controlled-substance part of the chair-side page: draw, what went where, waste."""

from typing import Any

from sqlalchemy.orm import Session

from ketaclinic.inventory import reconcile, service
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission, allows
from ketaclinic.treatments.models import TreatmentSession


def panel(db: Session, treatment_session: TreatmentSession, actor: Actor) -> dict[str, Any] | None:
    """What the page shows, or None where the site keeps no stock and nothing was drawn."""
    keeps = reconcile.keeps_stock(db, treatment_session.site_pk)
    figures = reconcile.figures(db, treatment_session)
    if not keeps and not figures.drawn:
        return None
    can_use = allows(actor.role, Permission.INVENTORY_USE)
    held = reconcile.held_by_container(db, treatment_session.pk)
    labels = {c.id: c for c in service.containers_at(db, actor, treatment_session.site_pk)} if can_use else {}
    return {"figures": figures, "problems": figures.problems(keeps), "can_use": can_use,
            "containers": sorted(labels.values(), key=lambda c: (c.product, c.label)),
            "held": [(service.container_id_of(db, pk), amount) for pk, amount in held]}
