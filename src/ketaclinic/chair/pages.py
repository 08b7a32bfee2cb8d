"""The chair-side page of a treatment session, its live fragment and its event stream, and the
steps posted from it (check-in, dose, stock drawn and wasted, discharge)."""

from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.chair import live_changes
from ketaclinic.courses import service as courses
from ketaclinic.errors import Conflict, Forbidden, InvalidInput, invalid
from ketaclinic.flows import checkin, discharge, dose
from ketaclinic.inventory import schemas as stock_schemas
from ketaclinic.inventory import service as stock
from ketaclinic.inventory import session_panel
from ketaclinic.inventory.forms import witness_of
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission, allows
from ketaclinic.knowledge import session_events
from ketaclinic.knowledge.checkin import checks_for
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient
from ketaclinic.patients.schemas import VitalsIn
from ketaclinic.treatments import checks, monitor_review, readings_by_page, schemas
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.chart import redraw_every_s, session_series, session_svg
from ketaclinic.treatments.models import OPEN, SessionEvent, TreatmentSession
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM, form_action, parse_form, validate
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)


# The chair-side page lists this many of the newest readings (a monitor sends one a second);
# the rest are a link away (`session_readings`), and all of them are in the chart.
READINGS_SHOWN = 60


def _session_and_patient(db: Session, actor: Actor, treatment_session_id: str
                         ) -> tuple[TreatmentSession, Patient]:
    """The session within the actor's reach, and its patient's chart (the read audited)."""
    treatment_session = treatments.get_treatment_session(db=db, treatment_session_id=treatment_session_id,
                                                         actor=actor)
    patient = patients.chart(db=db, patient_id=str(treatments.patient_id_of(db, treatment_session)),
                             actor=actor)
    return treatment_session, patient


def _live_context(db: Session, actor: Actor, treatment_session_id: str,
                  judged: bool = False) -> dict[str, Any]:
    """What the page's live part shows (alarms, newest readings, next reading due): read at
    every change a monitor brings, so nothing else unless `judged` (the whole page)."""
    treatment_session, patient = _session_and_patient(db, actor, treatment_session_id)
    state = treatments.status_of(db=db, treatment_session=treatment_session, newest=READINGS_SHOWN,
                                 judged=judged)
    shown = state["readings"][-READINGS_SHOWN:][::-1]
    count = state["reading_count"]
    return {
        "treatment_session": treatment_session, "patient": patient, "state": state,
        "tz": patients.time_zone_of(patient),
        "recent_readings": shown, "reading_count": count, "older_readings": count - len(shown),
        "open_alarms": [a for a in state["alarms"] if a.acknowledged_at is None],
    }


def _context(db: Session, actor: Actor, treatment_session_id: str) -> dict[str, Any]:
    """Everything the whole page shows: the live part's, and the rest."""
    context = _live_context(db, actor, treatment_session_id, judged=True)
    treatment_session, state = context["treatment_session"], context["state"]
    course = courses.by_pk(db, treatment_session.course_pk)
    codes = session_events.event_codes()
    return {
        **context, "chair": treatments.chair_of(db, treatment_session), "course": course,
        "dose": courses.chair_dose(course, checks.weight_today(db, treatment_session),
                                   state["rules"].ruleset),
        "events": treatments.events_of(db, treatment_session),
        "addenda": treatments.addenda_of(db, treatment_session),
        "checks": checks_for(treatment_session.route), "failed": checks.failed_checks(treatment_session),
        "missing": state["discharge_missing"],
        "prescribers": treatments.prescribers(db),
        "side_effects": codes.side_effects, "interventions": codes.interventions,
        "observation_ends": state["observation_ends"],
        "unmatched": treatments.unmatched_offer(db, treatment_session, state["rules"].ruleset)
        if treatment_session.status == OPEN else None,
        "monitor_trouble": monitor_review.trouble_during(db, treatment_session),
        "stock": session_panel.panel(db, treatment_session, actor),
    }


def _chart(db: Session, treatment_session: TreatmentSession, events: Sequence[SessionEvent],
           tz: str) -> dict[str, Any]:
    """The session's chart, and how often an open page redraws it."""
    series = session_series(db, treatment_session.pk)
    return {"chart_svg": session_svg(series, treatment_session, events, tz),
            "chart_every_s": redraw_every_s(series)}


def _page(request: Request, db: Session, actor: Actor, treatment_session_id: str,
          errors: list[str] | None = None, status_code: int = 200,
          typed: dict[str, str] | None = None) -> Response:
    context = _context(db, actor, treatment_session_id)
    context.update(_chart(db, context["treatment_session"], context["events"], context["tz"]))
    # What the page shows, as its stream will compare against (a change before it connects
    # is not missed).
    context["drawn"] = live_changes.drawn_for_session(db, context["treatment_session"].pk)
    return render(request, "treatments/session.html", status_code=status_code,
                  errors=errors or [], typed=typed or {},
                  can_write=allows(actor.role, Permission.CLINICAL_WRITE),
                  can_sign=allows(actor.role, Permission.CLINICAL_SIGN), **context)


@router.get("/treatment-sessions/{treatment_session_id}", response_class=HTMLResponse)
def session_page(
    request: Request,
    treatment_session_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> Response:
    """The page a nurse keeps open at the chair."""
    return _page(request, db, actor, treatment_session_id)


@router.get("/treatment-sessions/{treatment_session_id}/live", response_class=HTMLResponse)
def session_live(
    request: Request,
    treatment_session_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> Response:
    """The live part of the page (alarms, newest readings), fetched when the stream says so."""
    context = _live_context(db, actor, treatment_session_id)
    return render(request, "treatments/_live.html", can_write=allows(actor.role,
                  Permission.CLINICAL_WRITE), **context)


@router.get("/treatment-sessions/{treatment_session_id}/chart", response_class=HTMLResponse)
def session_chart(
    request: Request,
    treatment_session_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> Response:
    """The session's chart, redrawn by the page at most every `chart_every_s`."""
    treatment_session, patient = _session_and_patient(db, actor, treatment_session_id)
    return render(request, "treatments/_chart.html", **_chart(
        db, treatment_session, treatments.events_of(db, treatment_session),
        patients.time_zone_of(patient)))


@router.get("/treatment-sessions/{treatment_session_id}/readings", response_class=HTMLResponse)
def session_readings(
    request: Request,
    treatment_session_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> Response:
    """A session's readings a page at a time, newest first (the chair-side page lists the
    newest); `pressures=1`: those holding a blood pressure alone."""
    treatment_session, patient = _session_and_patient(db, actor, treatment_session_id)
    pressures_only = request.query_params.get("pressures") == "1"
    page = readings_by_page.page_of(db, treatment_session.pk, pressures_only=pressures_only,
                                 before=request.query_params.get("before", ""))
    return render(request, "treatments/readings.html", treatment_session=treatment_session,
                  patient=patient, chair=treatments.chair_of(db, treatment_session),
                  tz=patients.time_zone_of(patient), rows=page.readings, page=page,
                  pressures_only=pressures_only,
                  paged=bool(request.query_params.get("before")))


@router.get("/treatment-sessions/{treatment_session_id}/stream")
def session_stream(
    request: Request,
    treatment_session_id: str,
    drawn: str = "",
    actor: Actor = Depends(require(Permission.CLINICAL_READ)),
    db: Session = DB,
) -> StreamingResponse:
    """Server-sent events: 'changed' whenever a reading, alarm or event arrives after the page
    was drawn (`drawn`, the token the page carries)."""
    treatment_session = treatments.get_treatment_session(db=db, treatment_session_id=treatment_session_id,
                                                         actor=actor)
    # The request's session is committed and closed as this returns, before the stream starts;
    # the watcher reads through its own.
    return live_changes.stream(request, live_changes.watcher, treatment_session.pk, drawn)


def act(request: Request, db: Session, actor: Actor, treatment_session_id: str, form: FormData,
        action: Callable[[FormData], object]) -> Response:
    """Run a step posted from the chair-side page: back to the page, or the page again with the
    errors and nothing saved."""
    typed = {name: value for name, value in form.items()
             if isinstance(value, str) and name != "csrf_token"}
    return form_action(db, lambda: action(form), done=f"/treatment-sessions/{treatment_session_id}",
                       again=lambda errors, status: _page(request, db, actor, treatment_session_id,
                                                          errors, status, typed),
                       refusals=(InvalidInput, Conflict, Forbidden))


@router.post("/patients/{patient_id}/treatment-sessions")
def check_in_page(
    request: Request,
    patient_id: str,
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
    db: Session = DB, form: FormData = FORM) -> Response:
    """Open a session at a chair from the evaluation page."""
    patients.ensure_in_reach(db=db, patient_id=patient_id, actor=actor)
    back = f"/patients/{patient_id}/evaluations/{form.get('evaluation_id', '')}"
    return form_action(db, lambda: treatments.open_treatment_session(
        db=db, patient_id=patient_id, actor=actor, data=parse_form(schemas.SessionIn, form)),
        done=lambda treatment_session: f"/treatment-sessions/{treatment_session.id}",
        again=lambda errors, status: _cannot_check_in(request, errors, status, back))


def _cannot_check_in(request: Request, errors: list[str], status: int, back: str) -> Response:
    return render(request, "error.html", status_code=status, title="Cannot check in",
                  detail="; ".join(errors), back=back)


@router.post("/appointments/{appointment_id}/check-in")
def appointment_check_in_page(request: Request, appointment_id: str,
                              actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                              db: Session = DB) -> Response:
    """Open the treatment session from a booked appointment, at its chair."""
    return form_action(db, lambda: checkin.open_from_appointment(
        db=db, appointment_id=appointment_id, actor=actor),
        done=lambda treatment_session: f"/treatment-sessions/{treatment_session.id}",
        again=lambda errors, status: _cannot_check_in(request, errors, status, "/schedule"),
        refusals=(InvalidInput, Conflict, Forbidden))


@router.post("/treatment-sessions/{treatment_session_id}/checks")
def checks_page(request: Request, treatment_session_id: str,
                actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                db: Session = DB, form: FormData = FORM) -> Response:
    """Record the check-in confirmations (checked boxes are confirmed)."""
    def run(form: Any) -> object:
        treatment_session = treatments.get_treatment_session(
            db=db, treatment_session_id=treatment_session_id, actor=actor)
        confirmed = {c.id: form.get(f"check.{c.id}") == "on"
                     for c in checks_for(treatment_session.route) if c.kind == "confirm"}
        return checkin.check_in(db=db, treatment_session_id=treatment_session_id, confirmations=confirmed,
                                actor=actor)
    return act(request, db, actor, treatment_session_id, form, run)


@router.post("/treatment-sessions/{treatment_session_id}/checks/override")
def checks_override_page(request: Request, treatment_session_id: str,
                         actor: Actor = Depends(require(Permission.CLINICAL_SIGN)),
                         db: Session = DB, form: FormData = FORM) -> Response:
    """A prescriber overrides failed checks with a reason."""
    return act(request, db, actor, treatment_session_id, form, lambda form: treatments.override_checks(
        db=db, treatment_session_id=treatment_session_id, actor=actor,
        reason=parse_form(schemas.ReasonIn, form).reason))


@router.post("/treatment-sessions/{treatment_session_id}/pre-dose/override")
def pre_dose_override_page(request: Request, treatment_session_id: str,
                           actor: Actor = Depends(require(Permission.CLINICAL_SIGN)),
                           db: Session = DB, form: FormData = FORM) -> Response:
    """A prescriber lets dosing go ahead despite the baseline BP, with a reason."""
    return act(request, db, actor, treatment_session_id, form, lambda form: treatments.override_pre_dose(
        db=db, treatment_session_id=treatment_session_id, actor=actor,
        reason=parse_form(schemas.ReasonIn, form).reason))


@router.post("/treatment-sessions/{treatment_session_id}/vitals")
def vitals_page(request: Request, treatment_session_id: str,
                actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                db: Session = DB, form: FormData = FORM) -> Response:
    """Vital signs typed at the chair."""
    def run(form: Any) -> object:
        reading = parse_form(schemas.ReadingIn, form)
        return treatments.add_readings(db=db, treatment_session_id=treatment_session_id, actor=actor,
                                       data=schemas.ReadingsIn(readings=[reading]))
    return act(request, db, actor, treatment_session_id, form, run)


@router.post("/treatment-sessions/{treatment_session_id}/weight")
def weight_page(request: Request, treatment_session_id: str,
                actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                db: Session = DB, form: FormData = FORM) -> Response:
    """Today's weight, weighed at check-in, onto the patient's chart (the dose is by weight)."""
    def run(form: Any) -> object:
        treatment_session = treatments.get_treatment_session(
            db=db, treatment_session_id=treatment_session_id, actor=actor)
        weight = parse_form(schemas.WeightIn, form)
        return patients.add_entry(db=db, patient_id=str(treatments.patient_id_of(db, treatment_session)),
                                  kind="vitals", actor=actor,
                                  data=VitalsIn(weight_kg=weight.weight_kg,
                                                weight_change_confirmed=weight.weight_change_confirmed))
    return act(request, db, actor, treatment_session_id, form, run)


def _latest_clock_time(db: Session, actor: Actor, treatment_session_id: str, field: str,
                       value: str) -> str | None:
    """A time of day typed at the chair (HH:MM, clinic time) as an ISO timestamp; None if blank.
    It names something that has happened: the latest such time, so 23:55 typed just after
    midnight is yesterday's."""
    if not value.strip():
        return None
    treatment_session = treatments.get_treatment_session(db=db, treatment_session_id=treatment_session_id,
                                                         actor=actor)
    patient = patients.chart(db=db, patient_id=str(treatments.patient_id_of(db, treatment_session)),
                             actor=actor)
    zone = ZoneInfo(patients.time_zone_of(patient))
    try:
        local_time = time.fromisoformat(value.strip())
    except ValueError:
        raise invalid(field, f"{value!r} is not a time", "HH:MM") from None
    moment = datetime.combine(patients.local_today(patient), local_time, tzinfo=zone)
    if moment > clock.now() + patients.FUTURE_TOLERANCE:
        moment = datetime.combine(moment.date() - timedelta(days=1), local_time, tzinfo=zone)
    return moment.isoformat()


@router.post("/treatment-sessions/{treatment_session_id}/dose/start")
def dose_start_page(request: Request, treatment_session_id: str,
                    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                    db: Session = DB, form: FormData = FORM) -> Response:
    """Record the dose given (at the time typed, or now)."""
    def run(form: Any) -> object:
        values: dict[str, object] = {
            k: str(v) for k, v in form.items()
            if k not in ("csrf_token", "started_time") and not k.startswith("device_time_")
            and str(v).strip()}
        started = _latest_clock_time(db, actor, treatment_session_id, "started_time",
                                     str(form.get("started_time", "")))
        devices = [_latest_clock_time(db, actor, treatment_session_id, key, str(value))
                   for key, value in sorted(form.items()) if key.startswith("device_time_")]
        if started:
            values["started_at"] = started
        if any(devices):
            values["device_times"] = [d for d in devices if d]
            values.setdefault("started_at", min(d for d in devices if d))
        data = validate(schemas.DoseStartIn, values)
        return dose.give_dose(db=db, treatment_session_id=treatment_session_id, actor=actor, data=data)
    return act(request, db, actor, treatment_session_id, form, run)


@router.post("/treatment-sessions/{treatment_session_id}/dose/end")
def dose_end_page(request: Request, treatment_session_id: str,
                  actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                  db: Session = DB, form: FormData = FORM) -> Response:
    """Record that dosing ended (at the time typed, or now)."""
    def run(form: Any) -> object:
        ended = _latest_clock_time(db, actor, treatment_session_id, "ended_time",
                                   str(form.get("ended_time", "")))
        return treatments.end_dose(db=db, treatment_session_id=treatment_session_id, actor=actor,
                                   data=validate(schemas.DoseEndIn, {"ended_at": ended}))
    return act(request, db, actor, treatment_session_id, form, run)


@router.post("/treatment-sessions/{treatment_session_id}/events")
def events_page(request: Request, treatment_session_id: str,
                actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                db: Session = DB, form: FormData = FORM) -> Response:
    """Record a score, a side effect or an intervention."""
    return act(request, db, actor, treatment_session_id, form, lambda form: treatments.add_event(
        db=db, treatment_session_id=treatment_session_id, actor=actor,
        data=parse_form(schemas.EventIn, form)))


@router.post("/treatment-sessions/{treatment_session_id}/alarms/{alarm_id}/acknowledge")
def acknowledge_page(request: Request, treatment_session_id: str, alarm_id: str,
                     actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                     db: Session = DB, form: FormData = FORM) -> Response:
    """Acknowledge an alarm with what was done."""
    return act(request, db, actor, treatment_session_id, form, lambda form: treatments.acknowledge_alarm(
        db=db, treatment_session_id=treatment_session_id, alarm_id=alarm_id, actor=actor,
        note=parse_form(schemas.AcknowledgeIn, form).note))


def _discharge_in(form: Any) -> schemas.DischargeIn:
    return schemas.DischargeIn(escort_present=form.get("escort_present") == "on",
                               driving_warning_given=form.get("driving_warning_given") == "on")


@router.post("/treatment-sessions/{treatment_session_id}/discharge")
def discharge_page(request: Request, treatment_session_id: str,
                   actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                   db: Session = DB, form: FormData = FORM) -> Response:
    """Discharge when every criterion is met."""
    return act(request, db, actor, treatment_session_id, form, lambda form: discharge.discharge(
        db=db, treatment_session_id=treatment_session_id, actor=actor, data=_discharge_in(form)))


@router.post("/treatment-sessions/{treatment_session_id}/discharge/override")
def discharge_override_page(request: Request, treatment_session_id: str,
                            actor: Actor = Depends(require(Permission.CLINICAL_SIGN)),
                            db: Session = DB, form: FormData = FORM) -> Response:
    """A prescriber discharges despite unmet criteria, with a reason."""
    return act(request, db, actor, treatment_session_id, form, lambda form: discharge.discharge(
        db=db, treatment_session_id=treatment_session_id, actor=actor, data=_discharge_in(form),
        override_reason=validate(schemas.ReasonIn, {"reason": str(form.get("reason", ""))}).reason))


@router.post("/treatment-sessions/{treatment_session_id}/attach-unmatched")
def attach_page(request: Request, treatment_session_id: str,
                actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                db: Session = DB, form: FormData = FORM) -> Response:
    """Attach the chair's unmatched monitor readings to this session."""
    return act(request, db, actor, treatment_session_id, form, lambda form: treatments.attach_unmatched(
        db=db, treatment_session_id=treatment_session_id, actor=actor))


@router.post("/treatment-sessions/{treatment_session_id}/addenda")
def addendum_page(request: Request, treatment_session_id: str,
                  actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                  db: Session = DB, form: FormData = FORM) -> Response:
    """Add a correction to the closed record."""
    return act(request, db, actor, treatment_session_id, form, lambda form: treatments.add_addendum(
        db=db, treatment_session_id=treatment_session_id, actor=actor,
        text=parse_form(schemas.AddendumIn, form).text))


def _movement(kind: str, db: Session, actor: Actor, treatment_session_id: str) -> Callable[[Any], object]:
    def run(form: Any) -> object:
        data = validate(stock_schemas.SessionMovementIn, {
            "session_id": treatment_session_id, "container_id": str(form.get("container_id", "")),
            "quantity_mg": str(form.get("quantity_mg", "")).strip()})
        if kind == "waste":
            data.witness = witness_of(form)
        return stock.movement(db=db, kind=kind, data=data, actor=actor)
    return run


@router.post("/treatment-sessions/{treatment_session_id}/stock/draw")
def draw_page(request: Request, treatment_session_id: str,
              actor: Actor = Depends(require(Permission.INVENTORY_USE)),
              db: Session = DB, form: FormData = FORM) -> Response:
    """Draw from a container in the cabinet for this session."""
    return act(request, db, actor, treatment_session_id, form,
               _movement("draw", db, actor, treatment_session_id))


@router.post("/treatment-sessions/{treatment_session_id}/stock/waste")
def waste_page(request: Request, treatment_session_id: str,
               actor: Actor = Depends(require(Permission.INVENTORY_USE)),
               db: Session = DB, form: FormData = FORM) -> Response:
    """Waste what is left of a draw; the witness types their own credentials."""
    return act(request, db, actor, treatment_session_id, form,
               _movement("waste", db, actor, treatment_session_id))
