"""Seeding the demo clinic network into an empty database."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.auth import service as auth
from ketaclinic.clinics.models import Chair, Network, Site
from ketaclinic.demo import accounts, histories, week
from ketaclinic.demo import stock as demo_stock
from ketaclinic.demo.generator import PatientSpec, generate
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import schemas
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient

DEMO_PASSWORD = "ketaclinic-demo"  # noqa: S105 (published demo login, demo mode only)
DEMO_SEED = 20261126


@dataclass(frozen=True)
class DemoUser:
    """A demo login and where it works."""

    username: str
    display_name: str
    role: str
    site_codes: tuple[str, ...]


DEMO_SITES = (
    ("HPC", "Harbor Point Clinic", "12 Harbor Point Rd, Boston, MA 02110", "America/New_York",
     ("Chair 1", "Chair 2", "Chair 3", "Chair 4")),
    ("RVS", "Riverside Clinic", "400 River St, Chicago, IL 60606", "America/Chicago",
     ("Chair A", "Chair B", "Chair C")),
)
DEMO_USERS = (
    DemoUser("admin", "Alex Morgan", "admin", ("HPC", "RVS")),
    DemoUser("prescriber", "Dr. Priya Raman", "prescriber", ("HPC", "RVS")),
    DemoUser("nurse", "Sam Okafor, RN", "nurse", ("HPC",)),
    DemoUser("nurse2", "Chris Park, RN", "nurse", ("HPC",)),
    DemoUser("nurse3", "Robin Diaz, RN", "nurse", ("RVS",)),
    DemoUser("frontdesk", "Jamie Lee", "front_desk", ("HPC",)),
)
DEMO_PATIENT_USERNAME = "patient"
# The clinic's crisis contacts are its own setting (`ketaclinic clinic crisis-contacts`); the
# demo clinic is in the US, so it lists the US lifeline and emergency number.
DEMO_CRISIS_CONTACTS = ("988 Suicide & Crisis Lifeline: call or text 988 (US)",
                        "Emergency services: 911")


def is_seeded(db: Session) -> bool:
    """Whether the database already holds a clinic network."""
    return bool(db.execute(select(func.count()).select_from(Network)).scalar_one())


def seed(db: Session, *, patients_count: int = 50, seed_value: int = DEMO_SEED,
         on_patient: Callable[[int], None] | None = None) -> dict[str, int]:
    """Create the demo network, staff, patients and the demo patient's login; returns counts."""
    network = Network(name="Harbor & River Ketamine Clinics", created_by="demo",
                      crisis_contacts=list(DEMO_CRISIS_CONTACTS))
    db.add(network)
    sites = []
    for code, name, address, tz, chairs in DEMO_SITES:
        site = Site(network=network, code=code, name=name, address=address, time_zone=tz,
                    created_by="demo")
        site.chairs = [Chair(name=c, created_by="demo") for c in chairs]
        db.add(site)
        sites.append(site)
    db.flush()
    operator = Actor(username="demo-generator", role="system",
                     site_pks=frozenset(s.pk for s in sites), client="cli")
    for user in DEMO_USERS:
        auth.create_user(db=db, username=user.username, display_name=user.display_name,
                         role=user.role, password=DEMO_PASSWORD, site_codes=list(user.site_codes),
                         actor=operator)
    _add_shifts(db, sites, operator)
    _add_prices(db, sites, operator)
    now = clock.now()
    specs = generate(patients_count, seed_value, now.date(), now, sites=len(sites))
    first_patient_id = None
    for number, spec in enumerate(specs, start=1):
        patient_id = _record_patient(db, spec, sites, operator)
        first_patient_id = first_patient_id or patient_id
        if on_patient:
            on_patient(number)
    today = now.astimezone(ZoneInfo(DEMO_SITES[0][3])).date()
    stocks = demo_stock.add_stock(db, sites=sites, today=today)
    stories, story_sessions = histories.add_course_histories(
        db, site_code=DEMO_SITES[0][0], operator=operator, today=today)
    portal_pk = db.execute(select(Patient.pk).where(Patient.id == uuid.UUID(first_patient_id))
                           ).scalar_one() if first_patient_id else None
    taken = {s.patient_pk for s in story_sessions}
    # Riverside's own date: an hour a day, Harbor Point is already on the next one.
    insured = accounts.add_insurance(db, site=sites[-1],
                                     today=now.astimezone(ZoneInfo(sites[-1].time_zone)).date(),
                                     taken=taken | ({portal_pk} if portal_pk else set()))
    taken |= {insured.pk} if insured else set()
    weeks = week.add_weeks(db, sites=sites, operator=operator, now=now, portal_pk=portal_pk,
                           taken=taken, held=story_sessions)
    for site in sites:  # the vials drawn from in the order the doses were given
        given = [s for s in story_sessions if s.site_pk == site.pk] + weeks.given[site.pk]
        for treatment_session in sorted(given, key=lambda s: s.dose_start or s.checked_in_at):
            demo_stock.dispense(db, stocks[site.pk], treatment_session)
    accounts.charge_and_collect(db, sessions=story_sessions + [
        s for given in weeks.given.values() for s in given], sites=sites, today=today,
        portal_pk=portal_pk)
    if first_patient_id:
        auth.create_user(db=db, username=DEMO_PATIENT_USERNAME,
                         display_name="Demo patient", role="patient", password=DEMO_PASSWORD,
                         site_codes=[], patient_id=first_patient_id, actor=operator)
    return {"sites": len(sites), "users": len(DEMO_USERS) + 1, "patients": len(specs),
            "courses": len(stories)}


def _add_shifts(db: Session, sites: list[Site], operator: Actor) -> None:
    """Every demo nurse and prescriber works Monday to Friday, 08:00 to 18:00, at their sites."""
    from datetime import time

    from ketaclinic.scheduling import resources

    for user in DEMO_USERS:
        if user.role not in resources.STAFF_ROLES:
            continue
        for site in sites:
            if site.code in user.site_codes:
                for day in ("mon", "tue", "wed", "thu", "fri"):
                    resources.add_shift(db=db, site=site, username=user.username, day=day,
                                        starts=time(8), ends=time(18), actor=operator)


# Demo prices, in cents, inside the public ranges of protocol-facts.md section 10 (IV infusion
# 400 to 800 USD; a 6 to 8 infusion series 2,400 to 6,400 USD). A clinic sets its own.
DEMO_PRICES = {"96365": 45000, "96366": 15000, "ketamine-mg": 150, "96372": 30000,
               "G2082": 60000, "G2083": 70000, "J0013": 2500, "99213": 15000, "99214": 22000}


def _add_prices(db: Session, sites: list[Site], operator: Actor) -> None:
    """The demo price list, a six-infusion package and one sliding-scale band at every site."""
    from datetime import date

    from ketaclinic.billing import prices

    since = date(2026, 1, 1)
    for site in sites:
        for item, cents in DEMO_PRICES.items():
            prices.set_price(db=db, site=site, item=item, amount_cents=cents,
                             effective_from=since, actor=operator)
        prices.add_package(db=db, site=site, name="Six-infusion induction", route="iv",
                           sessions=6, amount_cents=240000, effective_from=since, actor=operator)
        prices.add_band(db=db, site=site, name="Household income up to 40,000 USD",
                        income_up_to_cents=4000000, discount_pct=20, effective_from=since,
                        actor=operator)


def _record_patient(db: Session, spec: PatientSpec, sites: list[Site], operator: Actor) -> str:
    patient = patients.register(db=db, actor=operator, data=schemas.PatientIn(
        family_name=spec.family_name, given_name=spec.given_name, birth_date=spec.birth_date,
        sex=spec.sex, phone=spec.phone, email=spec.email, address=spec.address,
        emergency_contact_name=spec.emergency_name,
        emergency_contact_relationship=spec.emergency_relationship,
        emergency_contact_phone=spec.emergency_phone, site=sites[spec.site_index].code))
    if spec.vitals:  # registered at the first visit, not on the day the demo was seeded
        patient.created_at = min(v.measured_at for v in spec.vitals) - timedelta(hours=1)
        patient.mrns[0].created_at = patient.created_at
    pid = str(patient.id)
    for c in spec.conditions:
        patients.add_entry(db=db, patient_id=pid, kind="conditions", actor=operator,
                           data=schemas.ConditionIn(
                               system=c.concept.system, code=c.concept.code,
                               display=c.concept.display, clinical_status=c.clinical_status,
                               onset_date=c.onset, abatement_date=c.abatement))
    for m in spec.medications:
        patients.add_entry(db=db, patient_id=pid, kind="medications", actor=operator,
                           data=schemas.MedicationIn(
                               system=m.concept.system, code=m.concept.code,
                               display=m.concept.display, dose_value=m.dose_mg, dose_unit="mg",
                               frequency=m.frequency, status=m.status,
                               start_date=m.start, end_date=m.end))
    for concept, reaction, criticality in spec.allergies:
        patients.add_entry(db=db, patient_id=pid, kind="allergies", actor=operator,
                           data=schemas.AllergyIn(system=concept.system, code=concept.code,
                                                  display=concept.display, reaction=reaction,
                                                  criticality=criticality))
    for v in spec.vitals:
        patients.add_entry(db=db, patient_id=pid, kind="vitals", actor=operator,
                           data=schemas.VitalsIn(
                               measured_at=v.measured_at, systolic_mmhg=v.systolic,
                               diastolic_mmhg=v.diastolic, heart_rate_bpm=v.heart_rate,
                               spo2_pct=v.spo2, weight_kg=v.weight_kg, height_cm=v.height_cm))
    return pid
