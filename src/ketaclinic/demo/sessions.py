"""Opening a demo treatment session: a patient screened, signed to start and checked in."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.auth.actor import Actor
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.evaluations import schemas as evaluation_schemas
from ketaclinic.evaluations import service as evaluations
from ketaclinic.patients.models import Patient, PatientMrn
from ketaclinic.treatments import schemas as treatment_schemas
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import TreatmentSession

DEMO_WEIGHT_KG = 70.0


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
        evaluation = evaluations.evaluate(db=db, patient_id=str(patient.id), actor=prescriber,
                                          data=evaluation_schemas.EvaluationIn(route=route))
        if evaluation.decision == "not-eligible":
            continue
        reasons = {f["rule"]: "reviewed with the patient (demo)" for f in evaluation.findings
                   if f["severity"] == "caution"}
        evaluations.sign(db=db, patient_id=str(patient.id), evaluation_id=str(evaluation.id),
                         actor=prescriber, data=evaluation_schemas.SignIn(
                             decision="start", caution_reasons=reasons, weight_kg=DEMO_WEIGHT_KG))
        return treatments.open_session(db=db, patient_id=str(patient.id), actor=prescriber,
                                       data=treatment_schemas.SessionIn(
                                           evaluation_id=evaluation.id, chair_id=chair.id))
    raise LookupError(f"no patient at {site_code} may start {route}")
