"""A site with hours, staff shifts and signed courses, for scheduling tests."""

from datetime import date, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.auth.actor import Actor
from ketaclinic.clinics.models import Site
from ketaclinic.db import utcnow
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.knowledge import courses
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import resources

DESK = Actor(username="frontdesk", role="front_desk")
ADMIN = Actor(username="admin", role="admin")


def staffed_site(db: Session, code: str = "A") -> Site:
    """Site A open Monday to Friday 08:00-18:00 with nurse_a and the prescriber on shift."""
    site = db.execute(select(Site).where(Site.code == code)).scalar_one()
    for day in ("mon", "tue", "wed", "thu", "fri"):
        resources.add_shift(db=db, site=site, username="nurse_a", day=day, starts=time(8),
                            ends=time(18), actor=ADMIN)
        resources.add_shift(db=db, site=site, username="prescriber", day=day, starts=time(8),
                            ends=time(18), actor=ADMIN)
    return site


def course(db: Session, route: str, start: date, patient_key: int = 0) -> tuple[Evaluation,
                                                                                Patient]:
    """A signed course for a seeded patient with its dated plan."""
    patient = db.execute(select(Patient).order_by(Patient.pk)).scalars().all()[patient_key]
    plan = courses.plan(route=route, start=start)
    evaluation = Evaluation(patient_pk=patient.pk, route=route, indication="depression",
                            screened_on=utcnow().date(), decision="eligible",
                            ruleset_version="t", overrides={}, findings=[], status="signed",
                            signed_decision="start", signed_by="prescriber", plan=plan.as_dict(),
                            created_by="test")
    db.add(evaluation)
    db.flush()
    return evaluation, patient
