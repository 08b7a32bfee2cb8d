"""JSON API for scheduling under /api/v1, and the public iCalendar feed URL."""

from datetime import datetime, time

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from ketaclinic.clinics.service import site_by_code
from ketaclinic.courses import service as courses
from ketaclinic.errors import invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.patients import service as patients
from ketaclinic.scheduling import booking, calendar, schemas
from ketaclinic.scheduling import service as scheduling
from ketaclinic.scheduling.availability import at_local
from ketaclinic.scheduling.models import Appointment
from ketaclinic.web.deps import API_PREFIX, DB, found_by, require
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.wire_types import IsoDate

router = APIRouter(route_class=OneTripRoute, tags=["scheduling"])
# The appointment a path names, at one of the caller's sites (404 otherwise).
APPOINTMENT = found_by(scheduling.appointment_of, Permission.SCHEDULE_BOOK, "appointment_id")


def out(db: Session, a: Appointment) -> schemas.AppointmentOut:
    """The API shape of an appointment."""
    return schemas.AppointmentOut(id=a.id, kind=a.kind, status=a.status, starts_at=a.starts_at,
                                  ends_at=a.ends_at, chair=booking.chair_name(db, a.chair_pk),
                                  course_session=a.course_session, late_cancel=a.late_cancel)


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise invalid(field, "has no time zone", "ISO 8601 with an offset, e.g. 2027-03-08T09:00-05:00")
    return value


@router.post(f"{API_PREFIX}/appointments", response_model=schemas.AppointmentOut,
             status_code=201)
def book(data: schemas.AppointmentIn, actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
         db: Session = DB) -> schemas.AppointmentOut:
    """Book one appointment; 409 with the reasons when it does not fit."""
    site = site_by_code(db, data.site, actor)
    patient = patients.open_patient(db=db, patient_id=data.patient_id, actor=actor,
                                    purpose="book an appointment")
    evaluation = scheduling.course_of(db, patient, data.evaluation_id) if data.evaluation_id else None
    made = booking.book(db=db, site=site, patient=patient, kind=data.kind,
                        starts_at=_aware(data.starts_at, "starts_at"), actor=actor,
                        chair_pk=scheduling.chair_pk_of(db, data.chair_id, site), course=evaluation,
                        course_session=data.course_session, note=data.note)
    return out(db, made)


@router.get(f"{API_PREFIX}/appointments", response_model=list[schemas.AppointmentOut])
def listed(site: str, start: IsoDate, days: int = 7,
           actor: Actor = Depends(require(Permission.SCHEDULE_VIEW)),
           db: Session = DB) -> list[schemas.AppointmentOut]:
    """Appointments at a site from a local day, for some days (1 to 31)."""
    if not 1 <= days <= 31:
        raise invalid("days", f"{days}", "1 to 31")
    where = site_by_code(db, site, actor)
    begin = at_local(where, start, time(0))
    return [out(db, a) for a in scheduling.appointments_between(db, where, begin, days)]


@router.post(f"{API_PREFIX}/appointments/{{appointment_id}}/move",
             response_model=schemas.AppointmentOut)
def move(appointment_id: str, data: schemas.MoveIn,
         actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
         db: Session = DB, found: Appointment = APPOINTMENT) -> schemas.AppointmentOut:
    """Move one appointment; the others of its series do not move."""
    site = scheduling.site_of(db, found)
    moved = booking.move(db=db, appointment=found, starts_at=_aware(data.starts_at, "starts_at"),
                         patient=scheduling.patient_of(db, found, actor, "move an appointment"),
                         actor=actor, chair_pk=scheduling.chair_pk_of(db, data.chair_id, site))
    return out(db, moved)


@router.post(f"{API_PREFIX}/appointments/{{appointment_id}}/cancel",
             response_model=schemas.AppointmentOut)
def cancel(appointment_id: str, data: schemas.CancelIn,
           actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
           db: Session = DB, found: Appointment = APPOINTMENT) -> schemas.AppointmentOut:
    """Cancel with a reason (late when within the notice period)."""
    done = booking.cancel(db=db, appointment=found, reason=data.reason, actor=actor,
                          patient=scheduling.patient_of(db, found, actor, "cancel an appointment"))
    return out(db, done)


@router.post(f"{API_PREFIX}/appointments/{{appointment_id}}/no-show",
             response_model=schemas.AppointmentOut)
def no_show(appointment_id: str, actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
            db: Session = DB, found: Appointment = APPOINTMENT) -> schemas.AppointmentOut:
    """Record that the patient did not come."""
    done = booking.no_show(db=db, appointment=found, actor=actor,
                           patient=scheduling.patient_of(db, found, actor, "record a no-show"))
    return out(db, done)


COURSE = f"{API_PREFIX}/patients/{{patient_id}}/courses/{{evaluation_id}}"


@router.post(f"{COURSE}/series/proposal", response_model=list[schemas.SlotProposalOut])
def propose(patient_id: str, evaluation_id: str, data: schemas.ProposalIn,
            actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
            db: Session = DB) -> list[schemas.SlotProposalOut]:
    """Check every unbooked planned session at a local time; alternatives where one does not
    fit. Nothing is saved."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="propose a series")
    proposal = booking.propose_series(db=db, site=site_by_code(db, data.site, actor),
                                      course=scheduling.course_of(db, patient, evaluation_id),
                                      at=data.at)
    return [schemas.SlotProposalOut(
        course_session=p.course_session, planned_day=p.planned_day, starts_at=p.starts_at,
        chair=p.chair, problems=p.problems,
        alternatives=[schemas.AlternativeOut(starts_at=t, chair=c) for t, c in p.alternatives])
        for p in proposal]


@router.post(f"{COURSE}/series", response_model=list[schemas.AppointmentOut], status_code=201)
def book_series(patient_id: str, evaluation_id: str, data: schemas.SeriesIn,
                actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
                db: Session = DB) -> list[schemas.AppointmentOut]:
    """Book the chosen slots together, or none (422 naming each slot that does not fit)."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="book a series")
    made = booking.book_series(
        db=db, site=site_by_code(db, data.site, actor),
        course=scheduling.course_of(db, patient, evaluation_id), patient=patient, actor=actor,
        slots=[(s.course_session, _aware(s.starts_at, f"slots[{i}].starts_at"))
               for i, s in enumerate(data.slots)])
    return [out(db, a) for a in made]


@router.get(f"{COURSE}/unbooked")
def unbooked(patient_id: str, evaluation_id: str,
             actor: Actor = Depends(require(Permission.SCHEDULE_VIEW)),
             db: Session = DB) -> list[dict[str, object]]:
    """The course's planned sessions that have no appointment."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="unbooked sessions")
    return [courses.session_data(s) for s in booking.unbooked(db, scheduling.course_of(db, patient,
                                                                             evaluation_id))]


@router.post(f"{API_PREFIX}/calendar-feeds", response_model=schemas.FeedOut, status_code=201)
def create_feed(data: schemas.FeedIn, actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
                db: Session = DB) -> schemas.FeedOut:
    """A secret calendar URL for a patient, or for the caller; the URL is shown only now."""
    if data.patient_id is not None:
        patient = patients.open_patient(db=db, patient_id=data.patient_id, actor=actor,
                                        purpose="calendar feed")
        feed, url = calendar.create_feed(db=db, actor=actor, patient=patient)
    else:
        feed, url = calendar.create_feed(db=db, actor=actor, user=scheduling.user_of(db, actor))
    return schemas.FeedOut(id=feed.id, url=url)


@router.post(f"{API_PREFIX}/calendar-feeds/{{feed_id}}/revoke", status_code=204)
def revoke_feed(feed_id: str, actor: Actor = Depends(require(Permission.SCHEDULE_BOOK)),
                db: Session = DB) -> Response:
    """Revoke a feed: its URL answers 404 from now on."""
    feed = scheduling.feed_in_reach(db, feed_id, actor)
    calendar.revoke(db=db, feed=feed, actor=actor)
    return Response(status_code=204)


@router.get("/calendar/{token}.ics", response_class=Response, responses={
    200: {"description": "The iCalendar feed", "content": {"text/calendar": {}}}})
def feed(token: str, db: Session = DB) -> Response:
    """The feed behind a secret URL (404 for an unknown or revoked one)."""
    found = calendar.feed_by_token(db, token)
    body = calendar.render_feed(db, found)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, no-store"})


@router.get(f"{API_PREFIX}/reminders", response_model=list[schemas.ReminderOut])
def reminders_listed(status: str = "failed",
                     actor: Actor = Depends(require(Permission.SCHEDULE_VIEW)),
                     db: Session = DB) -> list[schemas.ReminderOut]:
    """Reminders at the caller's sites by status (default: the failed ones, to follow up)."""
    rows = scheduling.reminders_with_status(db, status, actor)
    return [schemas.ReminderOut(id=r.id, appointment_id=appointment_id, status=r.status,
                                attempts=r.attempts, last_error=r.last_error,
                                next_attempt_at=r.next_attempt_at, sent_at=r.sent_at)
            for r, appointment_id in rows]
