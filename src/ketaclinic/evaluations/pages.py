"""Pages for evaluations on the chart: screen, read the findings, calculate, plan, sign, consent."""

from datetime import date, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic.clinics import rules as clinic_rules
from ketaclinic.clinics import service as clinics
from ketaclinic.courses import service as courses
from ketaclinic.errors import InvalidInput
from ketaclinic.evaluations import schemas
from ketaclinic.evaluations import service as evaluations
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission, allows
from ketaclinic.knowledge import courses as course_rules
from ketaclinic.knowledge import dosing
from ketaclinic.knowledge.ruleset import RuleSet
from ketaclinic.knowledge.screening import ROUTES, SEVERITIES, latest_within
from ketaclinic.patients import service as patients
from ketaclinic.patients.record import screening_record
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM, form_action, form_values, parse_form, validate
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)
REASON_PREFIX = "caution_reasons."


def _list_page(request: Request, db: Session, actor: Actor, patient_id: str,
               errors: list[str] | None = None, status_code: int = 200) -> Response:
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="evaluations")
    found = evaluations.list_for(db=db, patient_id=patient_id, actor=actor)
    consents = evaluations.consents_for(db=db, patient_id=patient_id, actor=actor)
    version, title, text = evaluations.consent_text()
    return render(request, "evaluations/list.html", status_code=status_code, patient=patient,
                  evaluations=found, consents=consents, consent_version=version,
                  consent_title=title, consent_text=text, routes=ROUTES,
                  indications={r: dosing.indications(r) for r in ROUTES}, errors=errors or [],
                  can_write=allows(actor.role, Permission.CLINICAL_WRITE))


@router.get("/patients/{patient_id}/evaluations", response_class=HTMLResponse)
def evaluation_list(
    request: Request,
    patient_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> Response:
    """The patient's evaluations and consents, with forms to screen and to record consent."""
    return _list_page(request, db, actor, patient_id)


@router.post("/patients/{patient_id}/evaluations")
def evaluation_create(
    request: Request,
    patient_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB, form: FormData = FORM) -> Response:
    """Screen the chart now and open the result."""
    return form_action(db, lambda: evaluations.evaluate(
        db=db, patient_id=patient_id, data=parse_form(schemas.EvaluationIn, form), actor=actor),
        done=lambda evaluation: f"/patients/{patient_id}/evaluations/{evaluation.id}",
        again=lambda errors, status: _list_page(request, db, actor, patient_id, errors, status),
        refusals=(InvalidInput,))


@router.post("/patients/{patient_id}/consents")
def consent_create(
    request: Request,
    patient_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB, form: FormData = FORM) -> Response:
    """Record the patient's consent to the current consent text."""
    return form_action(db, lambda: evaluations.record_consent(
        db=db, patient_id=patient_id, data=parse_form(schemas.ConsentIn, form), actor=actor),
        done=f"/patients/{patient_id}/evaluations",
        again=lambda errors, status: _list_page(request, db, actor, patient_id, errors, status),
        refusals=(InvalidInput,))


def _dose_preview(evaluation: Evaluation, latest_weight: float | None, query: dict[str, str],
                  ruleset: RuleSet) -> tuple[dosing.Dose | None, str]:
    try:
        weight = float(query["weight_kg"]) if query.get("weight_kg") else latest_weight
        mg_per_kg = float(query["mg_per_kg"]) if query.get("mg_per_kg") else None
        dose_mg = float(query["dose_mg"]) if query.get("dose_mg") else None
        dose = dosing.calculate(route=evaluation.route, weight_kg=weight,
                                indication=evaluation.indication, mg_per_kg=mg_per_kg,
                                dose_mg=dose_mg, ruleset=ruleset)
    except ValueError as exc:
        return None, str(exc)
    return dose, ""


def _detail_page(request: Request, db: Session, actor: Actor, patient_id: str,
                 evaluation_id: str, errors: list[str] | None = None,
                 values: dict[str, str] | None = None, status_code: int = 200) -> Response:
    evaluation = evaluations.get(db=db, patient_id=patient_id, evaluation_id=evaluation_id,
                                 actor=actor)
    patient = patients.chart(db=db, patient_id=patient_id, actor=actor)
    consents = evaluations.consents_for(db=db, patient_id=patient_id, actor=actor)
    query = {k: v for k, v in request.query_params.items()}
    ruleset = clinic_rules.current_ruleset(db=db)
    latest = latest_within(screening_record(patient).weights, evaluation.screened_on,
                           ruleset.value("weight_window_days"), patients.time_zone_of(patient))
    dose, dose_error = _dose_preview(evaluation, latest.weight_kg if latest else None, query,
                                     ruleset)
    start = _next_weekday(patients.local_today(patient))
    try:
        start = date.fromisoformat(query["start"]) if query.get("start") else start
        plan = course_rules.plan(route=evaluation.route, start=start,
                                 indication=evaluation.indication).as_dict()
        plan_error = ""
    except (ValueError, course_rules.PlanError) as exc:
        plan, plan_error = None, str(exc)
    grouped = {s: evaluations.findings_of(evaluation, s) for s in SEVERITIES}
    chairs = clinics.active_chairs(db, patient.site_pks & actor.site_pks)
    course = courses.of_evaluation(db, evaluation.pk)
    return render(request, "evaluations/detail.html", status_code=status_code, patient=patient,
                  evaluation=evaluation, course=course, signed_plan=courses.plan_data(course),
                  grouped=grouped, dose=dose, dose_error=dose_error,
                  latest_weight=latest, plan=plan, plan_error=plan_error, plan_start=start,
                  query=query, errors=errors or [], values=values or {},
                  tz=patients.time_zone_of(patient), has_consent=evaluations.has_consent(consents),
                  can_sign=allows(actor.role, Permission.CLINICAL_SIGN), chairs=chairs,
                  can_write=allows(actor.role, Permission.CLINICAL_WRITE))


def _next_weekday(day: date) -> date:
    closed = {course_rules.WEEKDAYS.index(d) for d in course_rules.default_closed_weekdays()}
    while day.weekday() in closed:
        day += timedelta(days=1)
    return day


@router.get("/patients/{patient_id}/evaluations/{evaluation_id}", response_class=HTMLResponse)
def evaluation_detail(
    request: Request,
    patient_id: str,
    evaluation_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> Response:
    """Findings by severity with sources, the dose calculator, the course planner, sign-off."""
    return _detail_page(request, db, actor, patient_id, evaluation_id)


@router.post("/patients/{patient_id}/evaluations/{evaluation_id}/sign")
def evaluation_sign(
    request: Request,
    patient_id: str,
    evaluation_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_SIGN)),
    db: Session = DB, form: FormData = FORM) -> Response:
    """Sign the decision; problems are shown on the same page and nothing is stored."""
    values = form_values(form)
    reasons = {k.removeprefix(REASON_PREFIX): v for k, v in values.items()
               if k.startswith(REASON_PREFIX)}
    plain = {k: v for k, v in values.items() if not k.startswith(REASON_PREFIX) and v.strip()}
    return form_action(db, lambda: evaluations.sign(
        db=db, patient_id=patient_id, evaluation_id=evaluation_id, actor=actor,
        data=validate(schemas.SignIn, {**plain, "caution_reasons": reasons})),
        done=f"/patients/{patient_id}/evaluations/{evaluation_id}",
        again=lambda errors, status: _detail_page(request, db, actor, patient_id, evaluation_id,
                                                  errors, values, status))


def _rules_page(request: Request, db: Session, actor: Actor, errors: list[str] | None = None,
                status_code: int = 200) -> Response:
    return render(request, "evaluations/rules.html", status_code=status_code,
                  parameters=evaluations.parameters(db=db), errors=errors or [],
                  version=clinic_rules.current_ruleset(db=db).version,
                  can_manage=allows(actor.role, Permission.RULES_MANAGE))


@router.get("/rules", response_class=HTMLResponse)
def rules_page(
    request: Request,
    actor: Actor = Depends(require(Permission.RULES_VIEW)),
    db: Session = DB,
) -> Response:
    """Every rule-set number with its default, the clinic's value and its source."""
    return _rules_page(request, db, actor)


@router.post("/rules")
def rules_override(
    request: Request,
    actor: Actor = Depends(require(Permission.RULES_MANAGE)),
    db: Session = DB, form: FormData = FORM) -> Response:
    """Set or clear the clinic's value for a parameter, with the reason."""
    return form_action(db, lambda: evaluations.set_override(
        db=db, data=parse_form(schemas.OverrideIn, form), actor=actor),
        done="/rules", again=lambda errors, status: _rules_page(request, db, actor, errors, status),
        refusals=(InvalidInput,))
