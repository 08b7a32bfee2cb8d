"""Scheduling pages: the day view (chairs as columns) and week view for the front desk, a
patient's appointments, and booking a course's sessions from the course."""

from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.clinics import service as clinics
from ketaclinic.clinics.models import Site
from ketaclinic.clinics.service import site_by_code
from ketaclinic.courses.service import courses_of, plan_of
from ketaclinic.errors import Conflict, InvalidInput, NotFound, invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission, allows
from ketaclinic.knowledge import appointments as rules
from ketaclinic.patients import service as patients
from ketaclinic.scheduling import attendance, booking, maintenance, schemas, views
from ketaclinic.scheduling import service as scheduling
from ketaclinic.scheduling.availability import ACTIVE, at_local, zone_of
from ketaclinic.scheduling.models import Appointment
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import (
    FORM,
    form_action,
    form_values,
    messages_of,
    undo_refused,
    validate,
)
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.site_choice import current_site
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)


def _day(value: str, field: str, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid(field, f"{value!r} is not a date", "YYYY-MM-DD") from None


def _site(request: Request, db: Session, actor: Actor, code: str) -> Site:
    chosen = current_site(request, list(clinics.sites_of(db=db, actor=actor)), code)
    if chosen is None:
        raise NotFound("you are not assigned to any site")
    return chosen


@router.get("/schedule", response_class=HTMLResponse)
def day_page(request: Request, site: str = "", day: str = "",
             actor: Actor = Depends(require(Permission.SCHEDULE_VIEW)),
             db: Session = DB) -> Response:
    """One day at a site: chairs as columns, appointments as blocks, conflicts marked."""
    where = _site(request, db, actor, site)
    today = clock.today(zone_of(where))
    shown = _day(day, "day", today)
    view = views.schedule(db, where, shown, 1)
    return render(request, "scheduling/day.html", site=where, day=shown, view=view,
                  grid=views.grid_rows(view, shown), sites=clinics.sites_of(db=db, actor=actor),
                  tz=where.time_zone, today=today,
                  can_check_in=allows(actor.role, Permission.CLINICAL_WRITE))


@router.get("/schedule/week", response_class=HTMLResponse)
def week_page(request: Request, site: str = "", start: str = "",
              actor: Actor = Depends(require(Permission.SCHEDULE_VIEW)),
              db: Session = DB) -> Response:
    """Seven days at a site: chairs as rows, days as columns."""
    where = _site(request, db, actor, site)
    today = clock.today(zone_of(where))
    first = _day(start, "start", today - timedelta(days=today.weekday()))
    view = views.schedule(db, where, first, 7)
    return render(request, "scheduling/week.html", site=where, first=first, view=view,
                  sites=clinics.sites_of(db=db, actor=actor), tz=where.time_zone)


@router.get("/patients/{patient_id}/appointments", response_class=HTMLResponse)
def patient_page(request: Request, patient_id: str,
                 actor: Actor = Depends(require(Permission.SCHEDULE_VIEW)),
                 db: Session = DB) -> Response:
    """A patient's appointments and the courses that can be booked."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="appointments")
    rows = scheduling.appointments_of_patient(db, patient)
    courses = [(c, plan_of(c)) for c in courses_of(db, patient.pk, planned_only=True)]
    reminder_state = scheduling.reminders_of(db, [a for a, _ in rows])
    return render(request, "scheduling/patient.html", patient=patient, rows=rows, courses=courses,
                  reminders=reminder_state,
                  kinds={k: rules.kind(k).label for k in
                         ("iv", "esketamine", "im", "oral", "evaluation", "follow-up",
                          "integration")})


def _booking_page(request: Request, db: Session, actor: Actor, patient_id: str,
                  evaluation_id: str, *, proposal: list[Any] | None = None,
                  errors: list[str] | None = None, values: dict[str, str] | None = None,
                  status_code: int = 200) -> Response:
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="course booking")
    course = scheduling.course_of(db, patient, evaluation_id)
    appointments = scheduling.appointments_of_course(db, course)
    sites = [s for s in clinics.sites_of(db=db, actor=actor) if s.pk in patient.site_pks]
    zones = {s.pk: zone_of(s) for s in clinics.all_sites(db=db)}
    by_session: dict[int, Appointment] = {}
    for a in appointments:
        if a.course_session is not None and a.status in ACTIVE:
            by_session[a.course_session] = a
    return render(request, "scheduling/booking.html", status_code=status_code, patient=patient,
                  course=course, plan=plan_of(course),
                  by_session=by_session, history=appointments, zones=zones, sites=sites,
                  proposal=proposal, errors=errors or [], values=values or {},
                  chair_name=lambda pk: booking.chair_name(db, pk))


@router.get("/patients/{patient_id}/courses/{evaluation_id}/booking", response_class=HTMLResponse)
def booking_page(request: Request, patient_id: str, evaluation_id: str,
                 actor: Actor = Depends(require(Permission.SCHEDULE_VIEW)),
                 db: Session = DB) -> Response:
    """The course's planned sessions, which are booked, and the form to book the rest."""
    return _booking_page(request, db, actor, patient_id, evaluation_id)


@router.post("/patients/{patient_id}/courses/{evaluation_id}/booking/proposal",
             response_class=HTMLResponse)
def proposal_page(request: Request, patient_id: str, evaluation_id: str,
                  actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
                  db: Session = DB, form: FormData = FORM) -> Response:
    """Check the unbooked sessions at a local time; show alternatives. Saves nothing."""
    values = {k: str(v) for k, v in form.items()}
    try:
        data = validate(schemas.ProposalIn, {"site": values.get("site", ""),
                                             "at": values.get("at", "")})
        patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                        purpose="propose a series")
        proposal = booking.propose_series(db=db, site=site_by_code(db, data.site, actor),
                                          course=scheduling.course_of(db, patient, evaluation_id),
                                          at=data.at)
    except (InvalidInput, Conflict) as exc:
        undo_refused(db, exc)
        return _booking_page(request, db, actor, patient_id, evaluation_id,
                             errors=messages_of(exc), values=values, status_code=exc.status)
    return _booking_page(request, db, actor, patient_id, evaluation_id, proposal=proposal,
                         values=values)


@router.post("/patients/{patient_id}/courses/{evaluation_id}/booking/series",
             response_class=HTMLResponse)
def series_page(request: Request, patient_id: str, evaluation_id: str,
                actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
                db: Session = DB, form: FormData = FORM) -> Response:
    """Book the chosen slots together (or none, showing why)."""
    values = form_values(form)

    def book() -> None:
        slots = [{"course_session": key.removeprefix("slot."), "starts_at": value}
                 for key, value in values.items() if key.startswith("slot.") and value]
        data = validate(schemas.SeriesIn, {"site": values.get("site", ""), "slots": slots})
        patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                        purpose="book a series")
        booking.book_series(db=db, site=site_by_code(db, data.site, actor),
                            course=scheduling.course_of(db, patient, evaluation_id),
                            patient=patient, actor=actor,
                            slots=[(s.course_session, s.starts_at) for s in data.slots])

    return form_action(db, book, done=_booking_url(patient_id, evaluation_id),
                       again=lambda errors, status: _booking_page(
                           request, db, actor, patient_id, evaluation_id, errors=errors,
                           values=values, status_code=status))


def _booking_url(patient_id: str, evaluation_id: str) -> str:
    return f"/patients/{patient_id}/courses/{evaluation_id}/booking"


def _local_moment(site: Site, day: str, hh_mm: str) -> datetime:
    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise invalid("day", f"{day!r} is not a date", "YYYY-MM-DD") from None
    try:
        at = time.fromisoformat(hh_mm)
    except ValueError:
        raise invalid("time", f"{hh_mm!r} is not a time", "HH:MM") from None
    return at_local(site, when, at)


@router.post("/patients/{patient_id}/courses/{evaluation_id}/booking/{appointment_id}/move",
             response_class=HTMLResponse)
def move_page(request: Request, patient_id: str, evaluation_id: str, appointment_id: str,
              actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
              db: Session = DB, form: FormData = FORM) -> Response:
    """Move one appointment of the course to another day and time."""
    def move() -> None:
        patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                        purpose="move an appointment")
        found = scheduling.appointment_of_patient(db, appointment_id, patient, actor)
        booking.move(db=db, appointment=found, patient=patient, actor=actor,
                     starts_at=_local_moment(scheduling.site_of(db, found),
                                             str(form.get("day", "")), str(form.get("time", ""))))

    return form_action(db, move, done=_booking_url(patient_id, evaluation_id),
                       again=lambda errors, status: _booking_page(
                           request, db, actor, patient_id, evaluation_id, errors=errors,
                           status_code=status))


@router.post("/patients/{patient_id}/courses/{evaluation_id}/booking/{appointment_id}/cancel",
             response_class=HTMLResponse)
def cancel_page(request: Request, patient_id: str, evaluation_id: str, appointment_id: str,
                actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
                db: Session = DB, form: FormData = FORM) -> Response:
    """Cancel one appointment of the course with a reason."""
    def cancel() -> None:
        patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                        purpose="cancel an appointment")
        found = scheduling.appointment_of_patient(db, appointment_id, patient, actor)
        booking.cancel(db=db, appointment=found, patient=patient, actor=actor,
                       reason=str(form.get("reason", "")))

    return form_action(db, cancel, done=_booking_url(patient_id, evaluation_id),
                       again=lambda errors, status: _booking_page(
                           request, db, actor, patient_id, evaluation_id, errors=errors,
                           status_code=status))


@router.get("/schedule/maintenance", response_class=HTMLResponse)
def maintenance_page(request: Request, site: str = "",
                     actor: Actor = Depends(require(Permission.SCHEDULE_VIEW)),
                     db: Session = DB) -> Response:
    """Patients in maintenance whose next session is due, with its basis, to book from here."""
    return _maintenance(request, db, actor, site)


def _maintenance(request: Request, db: Session, actor: Actor, site: str,
                 errors: list[str] | None = None, status_code: int = 200) -> Response:
    where = _site(request, db, actor, site)
    items = maintenance.due_list(db, where)
    return render(request, "scheduling/maintenance.html", status_code=status_code, site=where,
                  items=items, errors=errors or [], sites=clinics.sites_of(db=db, actor=actor))


@router.post("/schedule/maintenance/{evaluation_id}/book", response_class=HTMLResponse)
def maintenance_book(request: Request, evaluation_id: str,
                     actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
                     db: Session = DB, form: FormData = FORM) -> Response:
    """Book the next maintenance session of a course."""
    code = str(form.get("site", ""))
    # The course's patient first: a course out of reach is 404 whatever the form says.
    course, patient = scheduling.course_patient(db, evaluation_id, actor, "book maintenance")

    def book() -> str:
        where = site_by_code(db, code, actor)
        booking.book(db=db, site=where, patient=patient, kind=course.route, actor=actor,
                     course=course, note="maintenance",
                     starts_at=_local_moment(where, str(form.get("day", "")),
                                             str(form.get("time", ""))))
        return where.code

    return form_action(db, book, done=lambda site_code: f"/schedule/maintenance?site={site_code}",
                       again=lambda errors, status: _maintenance(request, db, actor, code, errors,
                                                                 status))


@router.get("/schedule/attendance", response_class=HTMLResponse)
def attendance_page(request: Request, site: str = "", start: str = "", end: str = "",
                    actor: Actor = Depends(require(Permission.SCHEDULE_VIEW)),
                    db: Session = DB) -> Response:
    """No-shows and cancellations (late ones apart) over a period, and who missed most."""
    where = _site(request, db, actor, site)
    today = clock.today(zone_of(where))
    first = _day(start, "start", today - timedelta(days=30))
    last = _day(end, "end", today)
    report = attendance.report(db, where, first, last)
    return render(request, "scheduling/attendance.html", site=where, first=first, last=last,
                  report=report, sites=clinics.sites_of(db=db, actor=actor))
