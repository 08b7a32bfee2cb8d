"""The demo's accounts: every session given is charged when the patient is discharged; most are
paid at the desk, the newest few are still owed, one patient pays by a payment plan, and one
patient's insurance holds an esketamine prior authorisation about to end."""

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.billing import charges, coverage, payments, plans
from ketaclinic.billing import schemas as billing_schemas
from ketaclinic.clinics.models import Site
from ketaclinic.demo.sessions import sign_to_start
from ketaclinic.evaluations import schemas as evaluation_schemas
from ketaclinic.evaluations import service as evaluations
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient, PatientMrn
from ketaclinic.treatments.models import DISCHARGED, TreatmentSession

OWED_DAYS = 3  # demo story: sessions of the last three days are not paid yet (every other one)
PLAN_INSTALMENTS = 4
PLAN_EVERY_DAYS = 14
AUTHORISATION_LEFT_DAYS = 9  # demo story: the esketamine authorisation ends in nine days
AUTHORISED_SESSIONS = 24


def charge_and_collect(db: Session, *, sessions: list[TreatmentSession], sites: list[Site],
                       today: date, portal_pk: int | None) -> None:
    """Invoice each closed session at discharge; take the card payments a desk would have."""
    desk = Actor("frontdesk", "front_desk", site_pks=frozenset(s.pk for s in sites))
    by_patient: dict[int, list[tuple[TreatmentSession, int]]] = defaultdict(list)
    for treatment_session in sorted((s for s in sessions if s.status == DISCHARGED),
                                    key=lambda s: s.checked_in_at):
        invoice = charges.charge_session(db=db, treatment_session=treatment_session, actor=desk)
        invoice.issued_at = treatment_session.discharged_at or treatment_session.checked_in_at
        by_patient[treatment_session.patient_pk].append((treatment_session, invoice.total_cents))
    on_plan = _plan_patient(by_patient, portal_pk)
    site_of = {s.pk: s for s in sites}
    for number, (patient_pk, visits) in enumerate(sorted(by_patient.items())):
        patient = db.get(Patient, patient_pk)
        assert patient is not None
        site = site_of[visits[0][0].site_pk]
        if patient_pk == on_plan:
            total = sum(cents for _, cents in visits)
            plans.create(db=db, site=site, patient=patient, total_cents=total,
                         instalments=PLAN_INSTALMENTS, starts_on=today - timedelta(days=7),
                         every_days=PLAN_EVERY_DAYS, note="Agreed at the desk (demo)", actor=desk)
            _pay(db, site, patient, visits[0][0], total // PLAN_INSTALMENTS + total %
                 PLAN_INSTALMENTS, desk, "first instalment of the payment plan")
            continue
        for treatment_session, cents in visits:
            recent = (today - treatment_session.checked_in_at.date()).days < OWED_DAYS
            if recent and (number % 2 == 0 or patient_pk == portal_pk):
                continue
            _pay(db, site, patient, treatment_session, cents, desk, "paid at discharge")


def _plan_patient(by_patient: dict[int, list[tuple[TreatmentSession, int]]],
                  portal_pk: int | None) -> int | None:
    """The patient with the most sessions charged (not the portal's) pays by instalments."""
    ranked = sorted((pk for pk in by_patient if pk != portal_pk),
                    key=lambda pk: (-len(by_patient[pk]), pk))
    return ranked[0] if ranked else None


def _pay(db: Session, site: Site, patient: Patient, treatment_session: TreatmentSession, cents: int,
         desk: Actor, note: str) -> None:
    payment = payments.record(db=db, site=site, patient=patient, amount_cents=cents,
                              method="card", reference=f"TERM-{treatment_session.pk:05d}", note=note,
                              actor=desk)
    payment.received_at = ((treatment_session.discharged_at or treatment_session.checked_in_at)
                           + timedelta(minutes=5))


def add_insurance(db: Session, *, site: Site, today: date, taken: set[int]) -> Patient | None:
    """A patient of the site screened for esketamine, insured, with an approved authorisation that
    ends soon; the course signed to start in three days, its sessions still to book."""
    prescriber = Actor("prescriber", "prescriber", site_pks=frozenset({site.pk}))
    desk = Actor("frontdesk", "front_desk", site_pks=frozenset({site.pk}))
    for patient in db.execute(select(Patient).join(PatientMrn).where(
            PatientMrn.site_pk == site.pk).order_by(Patient.pk.desc())).scalars():
        if patient.pk in taken:
            continue
        course = sign_to_start(db, patient=patient, route="esketamine", prescriber=prescriber,
                               plan_start=today + timedelta(days=3))
        if course is None:
            continue
        evaluations.record_consent(db=db, patient_id=str(patient.id), actor=prescriber,
                                   data=evaluation_schemas.ConsentIn(given_on=today))
        plan = coverage.add(db=db, patient=patient, actor=desk, data=billing_schemas.CoverageIn(
            payer="Lakeshore Health Plan (demo)", plan="PPO", member_id="LHP-DEMO-40721",
            routes=["esketamine"], expected_pct=80, notes="Benefits checked by phone (demo)"))
        coverage.authorize(db=db, coverage=plan, patient=patient, actor=desk,
                           data=billing_schemas.AuthorizationIn(
                               route="esketamine", number="PA-DEMO-88213", status="approved",
                               starts_on=today - timedelta(days=90 - AUTHORISATION_LEFT_DAYS),
                               ends_on=today + timedelta(days=AUTHORISATION_LEFT_DAYS),
                               sessions_authorised=AUTHORISED_SESSIONS))
        return patient
    return None
