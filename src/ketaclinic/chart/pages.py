"""Pages for the patient list, registration, the chart and the patient's own record."""

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.clinics import service as clinics
from ketaclinic.errors import InvalidInput, NotFound
from ketaclinic.flows import demographics
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission, allows
from ketaclinic.knowledge.codes import accepted_systems, condition_concepts, medication_concepts
from ketaclinic.knowledge.status_observations import charted_codes
from ketaclinic.knowledge.vital_limits import plausible_ranges
from ketaclinic.patients import history, schemas
from ketaclinic.patients import service as patients
from ketaclinic.patients.chart import trend_svg
from ketaclinic.patients.models import Patient, VitalSigns
from ketaclinic.patients.record import daily_dose_mg
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM, form_action, form_values, parse_form
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)

ENTRY_SCHEMAS: dict[str, type[BaseModel]] = {
    "conditions": schemas.ConditionIn,
    "medications": schemas.MedicationIn,
    "allergies": schemas.AllergyIn,
    "vitals": schemas.VitalsIn,
    "status-observations": schemas.StatusObservationIn,
}
PATIENT_FIELDS = list(schemas.PatientIn.model_fields)
# Readings listed on the chart at a time (older ones a page further on).
CHART_READINGS = 20


@router.get("/patients", response_class=HTMLResponse)
def patient_list(
    request: Request,
    q: str = "",
    birth_date: str = "",
    actor: Actor = Depends(require(Permission.PATIENT_SEARCH)),
    db: Session = DB,
) -> Response:
    """Search patients by name, MRN or birth date."""
    error = ""
    born: date | None = None
    if birth_date:
        try:
            born = date.fromisoformat(birth_date)
        except ValueError:
            error = "birth_date: not a date (accepted: YYYY-MM-DD)"
    found = patients.search(db=db, actor=actor, text=q[:200], birth_date=born) if not error else []
    today = clock.today(clinics.home_zone(db=db, actor=actor))
    return render(request, "patients/list.html", status_code=422 if error else 200,
                  patients=found, q=q, birth_date=birth_date, error=error, today=today)


def _new_form(request: Request, db: Session, actor: Actor, values: dict[str, str],
              errors: list[str], status_code: int = 200) -> Response:
    return render(request, "patients/form.html", status_code=status_code, values=values,
                  errors=errors, sites=clinics.sites_of(db=db, actor=actor), patient=None)


@router.get("/patients/new", response_class=HTMLResponse)
def patient_new_form(
    request: Request,
    actor: Actor = Depends(require(Permission.DEMOGRAPHICS_WRITE)),
    db: Session = DB,
) -> Response:
    """The registration form."""
    return _new_form(request, db, actor, {}, [])


@router.post("/patients/new")
def patient_new_submit(
    request: Request,
    actor: Actor = Depends(require(Permission.DEMOGRAPHICS_WRITE)),
    db: Session = DB, form: FormData = FORM) -> Response:
    """Register the patient, or show the form again with what to fix."""
    values = {k: str(v) for k, v in form.items() if k in PATIENT_FIELDS}
    return form_action(db, lambda: patients.register(
        db=db, data=parse_form(schemas.PatientIn, form), actor=actor),
        done=lambda patient: f"/patients/{patient.id}",
        again=lambda errors, status: _new_form(request, db, actor, values, errors, status))


# What a patient sees on their own chart beyond the record (bills, appointments, questionnaires
# to answer): the portal, which sits above the domains it shows, registers it here.
OWN_RECORD_EXTRAS: list[Callable[[Session, Patient], dict[str, Any]]] = []


def chart_page(request: Request, db: Session, actor: Actor, patient: Patient,
               form_errors: dict[str, list[str]] | None = None,
               form_values: dict[str, dict[str, str]] | None = None,
               status_code: int = 200, message_error: str = "") -> Response:
    """The chart page; for a patient looking at their own record, with what the portal adds."""
    extras = OWN_RECORD_EXTRAS[0](db, patient) if actor.is_patient and OWN_RECORD_EXTRAS else {}
    clinical = allows(actor.role, Permission.CLINICAL_READ)
    tz = patients.time_zone_of(patient)
    readings = history.page_of(db, patient, VitalSigns, limit=CHART_READINGS,
                               before=request.query_params.get("vitals_before") or None
                               ) if clinical else None
    return render(
        request, "patients/chart.html", status_code=status_code, patient=patient, tz=tz,
        clinical=clinical, can_write=allows(actor.role, Permission.CLINICAL_WRITE),
        can_edit=allows(actor.role, Permission.DEMOGRAPHICS_WRITE),
        chart_svg=trend_svg(db, patient, tz) if clinical else "", readings=readings,
        latest_vitals=history.latest_vitals(db, patient) if clinical else None,
        form_errors=form_errors or {}, form_values=form_values or {},
        conditions_picker=condition_concepts(), medications_picker=medication_concepts(),
        systems={kind: accepted_systems(kind) for kind in ("condition", "medication", "allergy")},
        ranges=plausible_ranges(), today=patients.local_today(patient),
        status_codes=charted_codes(),
        is_error=patients.is_entered_in_error, daily_dose_mg=daily_dose_mg,
        pending_questionnaires=extras.get("pending_questionnaires", []),
        portal=extras.get("portal"),
        message_sent=request.query_params.get("sent") == "1", message_error=message_error,
    )


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_chart(
    request: Request,
    patient_id: str,
    actor: Actor = Depends(require(Permission.DEMOGRAPHICS_READ)),
    db: Session = DB,
) -> Response:
    """The chart: demographics for every role that may see the patient, clinical data for clinicians."""
    if allows(actor.role, Permission.CLINICAL_READ):
        patient = patients.chart(db=db, patient_id=patient_id, actor=actor)
    else:
        patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                        purpose="demographics")
    return chart_page(request, db, actor, patient)


def _edit_form(request: Request, patient: Patient, values: dict[str, str], errors: list[str],
               status_code: int = 200) -> Response:
    return render(request, "patients/form.html", status_code=status_code, values=values,
                  errors=errors, sites=[], patient=patient)


@router.get("/patients/{patient_id}/edit", response_class=HTMLResponse)
def patient_edit_form(
    request: Request,
    patient_id: str,
    actor: Actor = Depends(require(Permission.DEMOGRAPHICS_WRITE)),
    db: Session = DB,
) -> Response:
    """The demographics form, filled in."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="edit form")
    values = {f: "" if getattr(patient, f) is None else str(getattr(patient, f))
              for f in schemas.PatientUpdate.model_fields}
    return _edit_form(request, patient, values, [])


@router.post("/patients/{patient_id}/edit")
def patient_edit_submit(
    request: Request,
    patient_id: str,
    actor: Actor = Depends(require(Permission.DEMOGRAPHICS_WRITE)),
    db: Session = DB, form: FormData = FORM) -> Response:
    """Save demographics, or show the form again with what to fix."""
    values = {k: str(v) for k, v in form.items() if k in schemas.PatientUpdate.model_fields}
    return form_action(db, lambda: demographics.update_demographics(
        db=db, patient_id=patient_id, data=parse_form(schemas.PatientUpdate, form), actor=actor),
        done=f"/patients/{patient_id}",
        again=lambda errors, status: _edit_form(request, patients.open_patient(
            db=db, patient_id=patient_id, actor=actor, purpose="edit form"), values, errors,
            status),
        refusals=(InvalidInput,))


def _chart_with_errors(request: Request, db: Session, actor: Actor, patient_id: str, kind: str,
                       errors: list[str], status: int,
                       values: dict[str, str] | None = None) -> Response:
    """The chart again, nothing saved, with the problems shown beside the form of `kind`."""
    patient = patients.chart(db=db, patient_id=patient_id, actor=actor)
    return chart_page(request, db, actor, patient, form_errors={kind: errors},
                      form_values={kind: values or {}}, status_code=status)


def _check_kind(kind: str) -> None:
    if kind not in ENTRY_SCHEMAS:
        raise NotFound(f"unknown kind of entry {kind!r}")


@router.post("/patients/{patient_id}/entries/{kind}")
def chart_entry_submit(
    request: Request,
    patient_id: str,
    kind: str,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB, form: FormData = FORM) -> Response:
    """Record a condition, medication, allergy or vital signs from the chart's forms."""
    _check_kind(kind)
    return form_action(db, lambda: patients.add_entry(
        db=db, patient_id=patient_id, kind=kind, data=parse_form(ENTRY_SCHEMAS[kind], form),
        actor=actor),
        done=f"/patients/{patient_id}#{kind}",
        again=lambda errors, status: _chart_with_errors(request, db, actor, patient_id, kind,
                                                        errors, status, form_values(form)),
        refusals=(InvalidInput,))


@router.post("/patients/{patient_id}/entries/{kind}/{entry_id}/entered-in-error")
def chart_entry_error(
    request: Request,
    patient_id: str,
    kind: str,
    entry_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB, form: FormData = FORM) -> Response:
    """Mark a chart entry entered-in-error with the reason given."""
    _check_kind(kind)
    return form_action(db, lambda: patients.mark_entered_in_error(
        db=db, patient_id=patient_id, kind=kind, entry_id=entry_id, actor=actor,
        reason=parse_form(schemas.EnteredInErrorIn, form).reason),
        done=f"/patients/{patient_id}#{kind}",
        again=lambda errors, status: _chart_with_errors(request, db, actor, patient_id, kind,
                                                        errors, status),
        refusals=(InvalidInput,))
