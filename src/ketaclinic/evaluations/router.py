"""JSON API for evaluations, consents and rule overrides."""

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from ketaclinic.courses import service as courses
from ketaclinic.courses.models import Course
from ketaclinic.evaluations import schemas
from ketaclinic.evaluations import service as evaluations
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.web.deps import DB, require
from ketaclinic.web.one_thread import OneTripRoute

router = APIRouter(route_class=OneTripRoute, prefix="/api/v1", tags=["evaluations"])


def _out(evaluation: Evaluation, course: Course | None) -> schemas.EvaluationOut:
    """The evaluation on the wire, with the dose and plan of the course it started, if any."""
    return schemas.EvaluationOut.model_validate(evaluation).model_copy(
        update={"dose": courses.dose_data(course), "plan": courses.plan_data(course)})


@router.get("/patients/{patient_id}/evaluations", response_model=list[schemas.EvaluationOut])
def list_evaluations(
    patient_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> list[schemas.EvaluationOut]:
    """The patient's evaluations, newest first."""
    found = evaluations.list_for(db=db, patient_id=patient_id, actor=actor)
    started = {c.evaluation_pk: c for c in courses.courses_of(db, found[0].patient_pk)} \
        if found else {}
    return [_out(e, started.get(e.pk)) for e in found]


@router.post("/patients/{patient_id}/evaluations", response_model=schemas.EvaluationOut,
             status_code=201)
def screen_patient(
    patient_id: str,
    data: schemas.EvaluationIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> schemas.EvaluationOut:
    """Screen the patient's chart for a route; the result is kept with its rule set."""
    evaluation = evaluations.evaluate(db=db, patient_id=patient_id, data=data, actor=actor)
    return _out(evaluation, courses.of_evaluation(db, evaluation.pk))


@router.get("/patients/{patient_id}/evaluations/{evaluation_id}",
            response_model=schemas.EvaluationOut)
def read_evaluation(
    patient_id: str,
    evaluation_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> schemas.EvaluationOut:
    """One evaluation with its findings."""
    evaluation = evaluations.get(db=db, patient_id=patient_id, evaluation_id=evaluation_id,
                                 actor=actor)
    return _out(evaluation, courses.of_evaluation(db, evaluation.pk))


@router.post("/patients/{patient_id}/evaluations/{evaluation_id}/sign",
             response_model=schemas.EvaluationOut)
def sign_evaluation(
    patient_id: str,
    evaluation_id: str,
    data: schemas.SignIn,
    actor: Actor = Depends(require(Permission.CLINICAL_SIGN)),
    db: Session = DB,
) -> schemas.EvaluationOut:
    """Sign start (with a reason for every caution) or do-not-start."""
    evaluation = evaluations.sign(db=db, patient_id=patient_id, evaluation_id=evaluation_id,
                                  data=data, actor=actor)
    return _out(evaluation, courses.of_evaluation(db, evaluation.pk))


@router.get("/patients/{patient_id}/consents", response_model=list[schemas.ConsentOut])
def list_consents(
    patient_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> list[schemas.ConsentOut]:
    """The patient's recorded consents."""
    found = evaluations.consents_for(db=db, patient_id=patient_id, actor=actor)
    return [schemas.ConsentOut.model_validate(c) for c in found]


@router.post("/patients/{patient_id}/consents", response_model=schemas.ConsentOut,
             status_code=201)
def record_consent(
    patient_id: str,
    data: schemas.ConsentIn,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB,
) -> schemas.ConsentOut:
    """Record the patient's consent to a version of the consent text."""
    consent = evaluations.record_consent(db=db, patient_id=patient_id, data=data, actor=actor)
    return schemas.ConsentOut.model_validate(consent)


@router.get("/rules/parameters", response_model=list[schemas.OverrideOut])
def rule_parameters(
    actor: Actor = Depends(require(Permission.RULES_VIEW)),
    db: Session = DB,
) -> list[schemas.OverrideOut]:
    """Every rule-set parameter: default, value in force, source."""
    return evaluations.parameters(db=db)


@router.post("/rules/overrides", response_model=list[schemas.OverrideOut], status_code=201)
def override_rule(
    data: schemas.OverrideIn,
    actor: Actor = Depends(require(Permission.RULES_MANAGE)),
    db: Session = DB,
) -> list[schemas.OverrideOut]:
    """Set (or, with value null, clear) the clinic's value for a parameter, with a reason."""
    evaluations.set_override(db=db, data=data, actor=actor)
    return evaluations.parameters(db=db)
