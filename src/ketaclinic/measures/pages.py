"""HTML pages: the patient's questionnaire (link or portal), staff entry, trajectories, alerts."""

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.courses import service as courses
from ketaclinic.errors import InvalidInput, NotFound
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission, allows
from ketaclinic.knowledge import crisis as crisis_advice
from ketaclinic.knowledge import instruments
from ketaclinic.knowledge.outcomes import Point
from ketaclinic.measures import alerts, links, schemas, service, trajectory
from ketaclinic.measures.models import MeasureAlert, MeasureRequest
from ketaclinic.patients import service as patients
from ketaclinic.patients.schemas import EnteredInErrorIn
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, client_of, require
from ketaclinic.web.forms import FORM, form_action, messages_of, parse_form, undo_refused, validate
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)


def _answers(form: FormData, keys: list[str]) -> dict[str, list[int | None]]:
    """The form's answers per instrument: fields named '<instrument>.<item number>'."""
    found: dict[str, list[int | None]] = {}
    for key in keys:
        spec = instruments.instrument(key)
        count = len(spec.items) or 1
        values: list[int | None] = []
        for number in range(1, count + 1):
            raw = str(form.get(f"{key}.{number}", "")).strip()
            values.append(int(raw) if raw.lstrip("-").isdigit() else (None if raw == "" else -1))
        found[key] = values
    return found


def _form_page(request: Request, keys: list[str], action: str, *, status_code: int = 200,
               errors: list[str] | None = None, values: dict[str, list[int | None]] | None = None,
               heading: str = "How have you been?", staff: bool = False, **extra: Any) -> Response:
    return render(request, "measures/questionnaire.html", status_code=status_code,
                  forms=[instruments.instrument(k) for k in keys], action=action,
                  errors=errors or [], values=values or {}, heading=heading, staff=staff, **extra)


def _crisis(db: Session, raised: list[MeasureAlert], site_pk: int) -> dict[str, Any] | None:
    """What a patient whose answers suggest suicidal thoughts sees first: the crisis contacts,
    and for high risk the advice to call now (never a promised call-back)."""
    suicidal = [a for a in raised if service.shows_crisis_contacts(a.rule)]
    if not suicidal:
        return None
    return {"contacts": service.crisis_contacts(db, site_pk),
            "high": any(a.severity == "immediate" for a in suicidal),
            "act_now": crisis_advice.act_now(), "reach_out": crisis_advice.reach_out()}


@router.get("/q/{token}", response_class=HTMLResponse)
def link_form(request: Request, token: str, db: Session = DB) -> Response:
    """The questionnaire behind a personal link (no login)."""
    try:
        found = links.by_token(db=db, token=token)
    except (NotFound, links.LinkGone) as exc:
        return render(request, "measures/link_gone.html", status_code=exc.status, detail=exc.detail)
    return _form_page(request, found.instruments, f"/q/{token}")


def _submit(request: Request, db: Session, found: MeasureRequest, actor: Actor,
            source: str, action: str, form: FormData) -> Response:
    answers = _answers(form, found.instruments)
    try:
        _, raised = links.submit(db=db, request=found, answers=answers, actor=actor, source=source)
    except InvalidInput as exc:
        undo_refused(db, exc)
        return _form_page(request, found.instruments, action, status_code=422,
                          errors=_named(exc), values=answers)
    crisis = _crisis(db, raised, found.site_pk)
    return render(request, "measures/thanks.html", crisis=crisis)


def _named(exc: InvalidInput) -> list[str]:
    """Problems in plain words (the message already names the form and question)."""
    return [f"{p.message} (answer: {p.accepted})." for p in exc.problems]


@router.post("/q/{token}", response_class=HTMLResponse)
def link_submit(request: Request, token: str, db: Session = DB,
                form: FormData = FORM) -> Response:
    """Store the answers from a personal link; the link is then used up."""
    try:
        found = links.by_token(db=db, token=token)
    except (NotFound, links.LinkGone) as exc:
        return render(request, "measures/link_gone.html", status_code=exc.status, detail=exc.detail)
    return _submit(request, db, found, links.link_actor(found, client_of(request)),
                   "patient-link", f"/q/{token}", form)


@router.get("/me/questionnaires/{request_id}", response_class=HTMLResponse)
def portal_form(request: Request, request_id: str,
                actor: Actor = Depends(require(Permission.PORTAL)),
                db: Session = DB) -> Response:
    """A pending questionnaire opened by the logged-in patient."""
    found = links.portal_request(db=db, request_id=request_id, actor=actor)
    return _form_page(request, found.instruments, f"/me/questionnaires/{request_id}")


@router.post("/me/questionnaires/{request_id}", response_class=HTMLResponse)
def portal_submit(request: Request, request_id: str,
                  actor: Actor = Depends(require(Permission.PORTAL)),
                  db: Session = DB, form: FormData = FORM) -> Response:
    """Store the logged-in patient's answers."""
    found = links.portal_request(db=db, request_id=request_id, actor=actor)
    return _submit(request, db, found, actor, "portal", f"/me/questionnaires/{request_id}", form)


def _course_views(db: Session, patient_pk: int, tz: str) -> list[trajectory.CourseView]:
    return [trajectory.course_view(db, c, tz) for c in courses.courses_of(db, patient_pk)]


def _charted_by_courses(instrument: str, points: list[Point],
                        views: list[trajectory.CourseView]) -> bool:
    """Whether the courses' charts already show every score of the instrument (so the page
    does not draw the same series twice)."""
    shown = {(p.day, p.total) for v in views if v.instrument == instrument for p in v.points}
    return all((p.day, p.total) in shown for p in points)


def _measures_page(request: Request, db: Session, actor: Actor, patient_id: str,
                   messages: list[str] | None = None, status_code: int = 200,
                   link_url: str = "") -> Response:
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="measures")
    tz = patients.time_zone_of(patient)
    rows = service.measures_of(db=db, patient_pk=patient.pk)
    views = _course_views(db, patient.pk, tz)
    session_days = sorted({d for v in views for d in v.session_days})
    zone = ZoneInfo(tz)
    series: dict[str, list[Point]] = {}
    for m in rows:
        if m.total is not None:
            series.setdefault(m.instrument, []).append(Point(clock.date_in(m.taken_at, zone),
                                                             m.total))
    listed = service.measures_of(db=db, patient_pk=patient.pk, include_errors=True)
    return render(request, "measures/patient.html", status_code=status_code, patient=patient,
                  tz=tz, measures=list(reversed(listed)), views=views,
                  charts={v.course.pk: trajectory.chart_svg(v) for v in views},
                  instrument_charts={k: trajectory.instrument_svg(k, pts, session_days)
                                     for k, pts in series.items()
                                     if not _charted_by_courses(k, pts, views)},
                  alerts=alerts.alerts_of_patient(db, patient.pk),
                  answers=service.answers_of(db, [m.pk for m in listed]),
                  instruments=instruments.instruments(), decisions=trajectory.DECISIONS,
                  actions=alerts.follow_up_actions(), messages=messages or [], link_url=link_url,
                  can_enter=allows(actor.role, Permission.MEASURES_WRITE) and not actor.is_patient,
                  can_send=allows(actor.role, Permission.LINKS_SEND),
                  can_correct=allows(actor.role, Permission.CLINICAL_WRITE),
                  can_decide=allows(actor.role, Permission.CLINICAL_SIGN))


@router.get("/patients/{patient_id}/measures", response_class=HTMLResponse)
def patient_measures(request: Request, patient_id: str,
                     actor: Actor = Depends(require(Permission.CLINICAL_READ)),
                     db: Session = DB) -> Response:
    """Trajectories with bands and sessions, course cards, every measure and alert."""
    return _measures_page(request, db, actor, patient_id)


@router.post("/patients/{patient_id}/measure-links", response_class=HTMLResponse)
def send_link_page(request: Request, patient_id: str,
                   actor: Actor = Depends(require(Permission.LINKS_SEND)),
                   db: Session = DB, form: FormData = FORM) -> Response:
    """Create and email a questionnaire link; the page shows it once to pass on."""
    try:
        data = parse_form(schemas.LinkIn, form, extra={"email": "true"})
        created, url = links.create(db=db, patient_id=patient_id, data=data, actor=actor)
    except InvalidInput as exc:
        undo_refused(db, exc)
        return _measures_page(request, db, actor, patient_id, messages_of(exc), 422)
    note = (f"Link emailed to {created.sent_to}." if created.sent_at
            else f"Not emailed ({created.send_error}): pass the link on yourself.")
    if not allows(actor.role, Permission.CLINICAL_READ):
        return render(request, "measures/link_created.html", url=url, note=note)
    return _measures_page(request, db, actor, patient_id, [note], link_url=url)


@router.get("/patients/{patient_id}/measures/new", response_class=HTMLResponse)
def staff_form(request: Request, patient_id: str, instrument: str = "phq9",
               actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
               db: Session = DB) -> Response:
    """A form entered by staff on the patient's behalf (recorded as such)."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="measure")
    if instrument not in instruments.instruments():
        raise NotFound("no such instrument")
    return _form_page(request, [instrument], f"/patients/{patient_id}/measures/new?instrument="
                      f"{instrument}", heading=f"Enter for {patient.given_name} "
                      f"{patient.family_name}", staff=True, patient=patient)


@router.post("/patients/{patient_id}/measures/new", response_class=HTMLResponse)
def staff_submit(request: Request, patient_id: str, instrument: str = "phq9",
                 actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                 db: Session = DB, form: FormData = FORM) -> Response:
    """Store a form entered on the patient's behalf."""
    if instrument not in instruments.instruments():
        raise NotFound("no such instrument")
    answers = _answers(form, [instrument])
    return form_action(db, lambda: service.add_measure(
        db=db, patient_id=patient_id, actor=actor, data=validate(schemas.MeasureIn, {
            "instrument": instrument, "answers": answers[instrument],
            "occasion": str(form.get("occasion") or "ad-hoc")})),
        done=f"/patients/{patient_id}/measures",
        again=lambda errors, status: _form_page(
            request, [instrument], f"/patients/{patient_id}/measures/new?instrument={instrument}",
            status_code=status, errors=errors, values=answers,
            heading="Enter on the patient's behalf", staff=True),
        refusals=(InvalidInput,))


@router.post("/patients/{patient_id}/measures/{measure_id}/entered-in-error")
def measure_error(request: Request, patient_id: str, measure_id: str,
                  actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                  db: Session = DB, form: FormData = FORM) -> Response:
    """Mark a measure entered-in-error with the reason given; the page again with the message
    when the reason is missing."""
    return form_action(db, lambda: service.mark_entered_in_error(
        db=db, patient_id=patient_id, measure_id=measure_id, actor=actor,
        reason=parse_form(EnteredInErrorIn, form).reason),
        done=f"/patients/{patient_id}/measures#measures-list",
        again=lambda errors, status: _measures_page(request, db, actor, patient_id, errors,
                                                    status))


@router.post("/patients/{patient_id}/courses/{course_id}/review", response_class=HTMLResponse)
def review_decision(request: Request, patient_id: str, course_id: str,
                    actor: Actor = Depends(require(Permission.CLINICAL_SIGN)),
                    db: Session = DB, form: FormData = FORM) -> Response:
    """The prescriber's end-of-induction decision."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="review")
    course = next((v.course for v in _course_views(db, patient.pk, patients.time_zone_of(patient))
                   if str(v.course.id) == course_id), None)
    if course is None:
        raise NotFound("no such course")
    return form_action(db, lambda: trajectory.record_decision(
        db=db, course=course, patient=patient, decision=str(form.get("decision", "")),
        note=str(form.get("note", "")), actor=actor, time_zone=patients.time_zone_of(patient)),
        done=f"/patients/{patient_id}/measures",
        again=lambda errors, status: _measures_page(request, db, actor, patient_id, errors,
                                                    status))


@router.get("/alerts", response_class=HTMLResponse)
def alert_list(request: Request, actor: Actor = Depends(require(Permission.ALERTS_FOLLOW_UP)),
               db: Session = DB) -> Response:
    """Open alerts at the user's sites: the user's own patients first, most severe first."""
    rows = alerts.open_alerts(db=db, site_pks=actor.site_pks)
    mine = [r for r in rows if r[0].prescriber == actor.username]
    others = [r for r in rows if r[0].prescriber != actor.username]
    return render(request, "measures/alerts.html", mine=mine, others=others)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_detail(request: Request, alert_id: str,
                 actor: Actor = Depends(require(Permission.ALERTS_FOLLOW_UP)),
                 db: Session = DB) -> Response:
    """One alert, the measure behind it, and the follow-up form."""
    return _alert_page(request, db, actor, alert_id)


def _alert_page(request: Request, db: Session, actor: Actor, alert_id: str,
                errors: list[str] | None = None, status_code: int = 200) -> Response:
    alert, patient = alerts.get_alert(db=db, alert_id=alert_id, actor=actor)
    measure_answers = service.answers_of(db, [alert.measure_pk])[alert.measure_pk]
    return render(request, "measures/alert.html", status_code=status_code, alert=alert,
                  patient=patient, answers=measure_answers, actions=alerts.follow_up_actions(),
                  errors=errors or [], tz=patients.time_zone_of(patient))


@router.post("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_follow_up(request: Request, alert_id: str,
                    actor: Actor = Depends(require(Permission.ALERTS_FOLLOW_UP)),
                    db: Session = DB, form: FormData = FORM) -> Response:
    """Record what was done; the alert closes."""
    return form_action(db, lambda: alerts.close(
        db=db, alert_id=alert_id, data=parse_form(schemas.FollowUpIn, form), actor=actor),
        done="/alerts",
        again=lambda errors, status: _alert_page(request, db, actor, alert_id, errors, status))
