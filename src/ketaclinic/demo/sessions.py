"""Demo treatment sessions: one already given and discharged, or a patient screened, signed to
start and checked in."""

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Chair, Site
from ketaclinic.courses import service as courses
from ketaclinic.courses.models import Course
from ketaclinic.evaluations import schemas as evaluation_schemas
from ketaclinic.evaluations import service as evaluations
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient, PatientMrn, VitalSigns
from ketaclinic.treatments import schemas as treatment_schemas
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import DISCHARGED, GivenDose, SessionEvent, TreatmentSession

DEMO_WEIGHT_KG = 70.0  # for a demo patient whose chart has no weight


def chart_weight(db: Session, patient_pk: int) -> float:
    """The patient's latest charted weight, which the prescriber doses by."""
    weight = db.execute(select(VitalSigns.weight_kg).where(
        VitalSigns.patient_pk == patient_pk, VitalSigns.weight_kg.is_not(None))
        .order_by(VitalSigns.measured_at.desc()).limit(1)).scalar_one_or_none()
    return float(weight) if weight else DEMO_WEIGHT_KG


def signed_dose(course: Course) -> GivenDose:
    """The dose given as the course was signed (dose and mg/kg)."""
    assert course.dose is not None, "a course signed to start has its dose"
    return GivenDose(dose_mg=course.dose.dose_mg, route=course.route,
                     mg_per_kg=course.dose.mg_per_kg, planned_dose_mg=course.dose.dose_mg)


def sign_to_start(db: Session, *, patient: Patient, route: str, prescriber: Actor,
                  plan_start: date | None = None, depression_only: bool = False
                  ) -> Course | None:
    """Screen the patient for a route and sign the course to start, every caution reviewed and the
    dose by the chart's weight; None when the patient may not start (or is not treated for
    depression, when only that will do)."""
    course = evaluations.evaluate(db=db, patient_id=str(patient.id), actor=prescriber,
                                  data=evaluation_schemas.EvaluationIn(route=route))
    if course.decision == "not-eligible" or (depression_only
                                             and course.indication != "depression"):
        return None
    reasons = {f["rule"]: "reviewed with the patient (demo)" for f in course.findings
               if f["severity"] == "caution"}
    evaluations.sign(db=db, patient_id=str(patient.id), evaluation_id=str(course.id),
                     actor=prescriber, data=evaluation_schemas.SignIn(
                         decision="start", caution_reasons=reasons,
                         weight_kg=chart_weight(db, patient.pk), plan_start=plan_start))
    return courses.of_evaluation(db, course.pk)


def given_session(db: Session, *, course: Course, site_pk: int, chair_pk: int,
                  checked_in: datetime, created_by: str, nausea: bool = False) -> TreatmentSession:
    """An IV session already given at the signed dose: checked in, a 40-minute infusion from 20
    minutes later, an hour's observation and discharge (nausea that settled, when asked for)."""
    dose_start = checked_in + timedelta(minutes=20)
    treatment_session = TreatmentSession(
        patient_pk=course.patient_pk, course_pk=course.pk, site_pk=site_pk, chair_pk=chair_pk,
        route="iv", status=DISCHARGED, checked_in_at=checked_in, dose_start=dose_start,
        dose_end=dose_start + timedelta(minutes=40), dose_given=signed_dose(course),
        ordered_by=course.prescriber, escort_present=True, driving_warning_given=True,
        discharged_at=dose_start + timedelta(minutes=100), created_by=created_by)
    db.add(treatment_session)
    db.flush()
    dose_started(db, course, treatment_session)
    if nausea:  # the common, self-limiting side effect
        db.add(SessionEvent(session_pk=treatment_session.pk, kind="side-effect", code="nausea",
                            note="settled without treatment (demo)",
                            at=dose_start + timedelta(minutes=25), created_by=created_by))
    return treatment_session


def dose_started(db: Session, course: Course, treatment_session: TreatmentSession) -> None:
    """The course moves on as the demo dose was given (a planned course into induction, dated
    at the dose)."""
    if treatment_session.dose_start is None:
        return
    patient_id = db.execute(select(Patient.id).where(Patient.pk == course.patient_pk)).scalar_one()
    nurse = Actor(treatment_session.created_by, "nurse", site_pks=frozenset({treatment_session.site_pk}))
    courses.dose_given(db=db, course=course, actor=nurse, patient_id=str(patient_id),
                       at=treatment_session.dose_start)


def open_demo_session(db: Session, *, site_code: str, chair_name: str,
                      route: str = "iv") -> TreatmentSession:
    """Screen the site's patients in turn; check the first one who may start in at the chair."""
    site = db.execute(select(Site).where(Site.code == site_code)).scalar_one()
    chair = db.execute(select(Chair).where(Chair.site_pk == site.pk, Chair.name == chair_name)
                       ).scalar_one()
    prescriber = Actor("demo-prescriber", "prescriber", site_pks=frozenset({site.pk}))
    patients = db.execute(select(Patient).join(PatientMrn).where(PatientMrn.site_pk == site.pk)
                          .order_by(Patient.pk)).scalars()
    for patient in patients:
        evaluation = sign_to_start(db, patient=patient, route=route, prescriber=prescriber)
        if evaluation is None:
            continue
        return treatments.open_treatment_session(db=db, patient_id=str(patient.id), actor=prescriber,
                                                 data=treatment_schemas.SessionIn(
                                                     evaluation_id=evaluation.id, chair_id=chair.id))
    raise LookupError(f"no patient at {site_code} may start {route}")
