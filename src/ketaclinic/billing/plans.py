"""Payment plans: an amount split into instalments (remainder cents on the first), each due on a
date; an instalment not covered by what the patient has paid since the plan began is overdue."""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.audit import service as audit
from ketaclinic.billing import prices
from ketaclinic.billing.models import Instalment, Payment, PaymentPlan
from ketaclinic.clinics.models import Site
from ketaclinic.errors import invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient

MAX_INSTALMENTS = 24


@dataclass(frozen=True)
class InstalmentState:
    """An instalment and whether it is paid, due or overdue."""

    instalment: Instalment
    paid_cents: int
    state: str  # paid, part-paid, due, overdue


def create(*, db: Session, site: Site, patient: Patient, total_cents: int, instalments: int,
           starts_on: date, every_days: int, note: str, actor: Actor) -> PaymentPlan:
    """A plan of equal instalments, the first on `starts_on`, then every `every_days`."""
    if total_cents <= 0:
        raise invalid("total_cents", f"{total_cents}", "more than 0 (integer cents)")
    if not 1 <= instalments <= MAX_INSTALMENTS:
        raise invalid("instalments", f"{instalments}", f"1 to {MAX_INSTALMENTS}")
    if not 7 <= every_days <= 92:
        raise invalid("every_days", f"{every_days}", "7 to 92")
    plan = PaymentPlan(site_pk=site.pk, patient_pk=patient.pk, total_cents=total_cents,
                       currency=prices.currency(), starts_on=starts_on, note=note.strip()[:300],
                       created_by=actor.username)
    db.add(plan)
    db.flush()
    share, remainder = divmod(total_cents, instalments)
    db.add_all([Instalment(plan_pk=plan.pk, number=n + 1,
                           due_on=starts_on + timedelta(days=every_days * n),
                           amount_cents=share + (remainder if n == 0 else 0),
                           created_by=actor.username) for n in range(instalments)])
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="PaymentPlan",
                 record_id=plan.id, patient_id=patient.id,
                 detail=f"{total_cents} cents in {instalments} instalments from {starts_on}")
    return plan


def states(db: Session, plan: PaymentPlan, today: date) -> list[InstalmentState]:
    """Each instalment, covered in order by the payments received since the plan was set up
    (a deposit taken before then paid for something else)."""
    paid = int(db.execute(select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(
        Payment.patient_pk == plan.patient_pk, Payment.received_at >= plan.created_at)
    ).scalar_one())
    rows = db.execute(select(Instalment).where(Instalment.plan_pk == plan.pk)
                      .order_by(Instalment.number)).scalars().all()
    result = []
    for row in rows:
        covered = min(paid, row.amount_cents)
        paid -= covered
        if covered == row.amount_cents:
            state = "paid"
        elif row.due_on < today:
            state = "overdue"
        else:
            state = "part-paid" if covered else "due"
        result.append(InstalmentState(row, covered, state))
    return result
