"""The scheduling records the pages and the API read: a patient's course, chair, appointments,
calendar feeds and reminders, each found within the caller's reach or refused."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.auth.models import User
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.courses.models import Course
from ketaclinic.db import by_public_id
from ketaclinic.errors import NotFound, invalid, public_id
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.availability import ACTIVE
from ketaclinic.scheduling.models import Appointment, CalendarFeed, Reminder


def course_of(db: Session, patient: Patient, evaluation_id: object) -> Course:
    """A course of the patient with a dated plan, by the id of the evaluation that started it."""
    key = public_id(evaluation_id, "evaluation")
    found = db.execute(select(Course).where(Course.id == key, Course.patient_pk == patient.pk)
                       ).scalar_one_or_none()
    if found is None or not found.sessions:
        if found is None and db.execute(select(Evaluation.pk).where(
                Evaluation.id == key, Evaluation.patient_pk == patient.pk)).first() is None:
            raise NotFound("no such evaluation")
        raise invalid("evaluation_id", "the evaluation is not a signed course with a plan",
                      "a course signed to start")
    return found


def course_patient(db: Session, course_id: object, actor: Actor, purpose: str
                   ) -> tuple[Course, Patient]:
    """A course by its id with its patient opened for the caller (404 when out of reach)."""
    course = db.execute(select(Course).where(Course.id == public_id(course_id, "evaluation"))
                        ).scalar_one_or_none()
    if course is None:
        raise NotFound("no such course")
    patient = patients.open_patient(db=db, patient_id=str(patients.id_of(db, course.patient_pk)),
                                    actor=actor, purpose=purpose)
    return course, patient


def chair_pk_of(db: Session, chair_id: object, site: Site) -> int | None:
    """A chair of the site by id (None when not given)."""
    if chair_id is None:
        return None
    pk = db.execute(select(Chair.pk).where(Chair.id == public_id(chair_id, "chair"),
                                           Chair.site_pk == site.pk)).scalar_one_or_none()
    if pk is None:
        raise invalid("chair_id", "not a chair of this site", "a chair of the site")
    return pk


def site_of(db: Session, appointment: Appointment) -> Site:
    """The site an appointment is at."""
    return db.execute(select(Site).where(Site.pk == appointment.site_pk)).scalar_one()


def patient_of(db: Session, appointment: Appointment, actor: Actor, purpose: str) -> Patient:
    """The appointment's patient, opened for the caller (the read audited)."""
    return patients.open_patient(db=db, patient_id=str(patients.id_of(db, appointment.patient_pk)),
                                 actor=actor, purpose=purpose)


def appointment_of(db: Session, appointment_id: object, actor: Actor) -> Appointment:
    """An appointment at one of the actor's sites."""
    return by_public_id(db, Appointment, appointment_id, "appointment", site_pks=actor.site_pks)


def appointment_of_patient(db: Session, appointment_id: object, patient: Patient,
                           actor: Actor) -> Appointment:
    """An appointment of this patient at one of the caller's sites (404 otherwise)."""
    found = appointment_of(db, appointment_id, actor)
    if found.patient_pk != patient.pk:
        raise NotFound("no such appointment")
    return found


def appointments_between(db: Session, site: Site, begin: datetime, days: int
                         ) -> Sequence[Appointment]:
    """A site's appointments starting in the days from `begin`, in time order."""
    return db.execute(select(Appointment).where(
        Appointment.site_pk == site.pk, Appointment.starts_at >= begin,
        Appointment.starts_at < begin + timedelta(days=days)).order_by(Appointment.starts_at)
    ).scalars().all()


def appointments_of_patient(db: Session, patient: Patient) -> list[tuple[Appointment, Site]]:
    """Every appointment of a patient with its site, newest first."""
    return [(a, s) for a, s in db.execute(
        select(Appointment, Site).join(Site, Site.pk == Appointment.site_pk).where(
            Appointment.patient_pk == patient.pk).order_by(Appointment.starts_at.desc())).all()]


def appointments_of_course(db: Session, course: Course) -> Sequence[Appointment]:
    """Every appointment booked for a course, in time order."""
    return db.execute(select(Appointment).where(Appointment.course_pk == course.pk)
                      .order_by(Appointment.starts_at)).scalars().all()


def reminders_of(db: Session, appointments: Sequence[Appointment]) -> dict[int, Reminder]:
    """The latest reminder of each appointment, by appointment key."""
    return {r.appointment_pk: r for r in db.execute(select(Reminder).where(
        Reminder.appointment_pk.in_([a.pk for a in appointments])).order_by(Reminder.pk)
    ).scalars()}


def reminders_with_status(db: Session, status: str, actor: Actor
                          ) -> list[tuple[Reminder, object]]:
    """Reminders at the caller's sites in a status, with their appointment's id, due first."""
    if status not in ("pending", "sent", "failed", "cancelled"):
        raise invalid("status", repr(status), "pending, sent, failed, cancelled")
    return [(r, appointment_id) for r, appointment_id in db.execute(
        select(Reminder, Appointment.id).join(
            Appointment, Appointment.pk == Reminder.appointment_pk).where(
            Reminder.status == status, Appointment.site_pk.in_(actor.site_pks)).order_by(
            Reminder.next_attempt_at)).all()]


def user_of(db: Session, actor: Actor) -> User:
    """The caller's own user row."""
    return db.execute(select(User).where(User.username == actor.username)).scalar_one()


def feed_in_reach(db: Session, feed_id: object, actor: Actor) -> CalendarFeed:
    """A calendar feed the caller owns, or of a patient in their reach (404 otherwise)."""
    feed = db.execute(select(CalendarFeed).where(
        CalendarFeed.id == public_id(feed_id, "calendar feed"))).scalar_one_or_none()
    if feed is None:
        raise NotFound("no such calendar feed")
    if feed.user_pk is not None:
        owner = db.execute(select(User.username).where(User.pk == feed.user_pk)).scalar_one()
        if owner != actor.username:
            raise NotFound("no such calendar feed")
    else:
        assert feed.patient_pk is not None
        patients.open_patient(db=db, patient_id=str(patients.id_of(db, feed.patient_pk)),
                              actor=actor, purpose="revoke calendar feed")
    return feed


def upcoming_of_patient(db: Session, patient: Patient, now: datetime, limit: int = 20
                        ) -> list[tuple[Appointment, Site]]:
    """A patient's booked or checked-in appointments from now, soonest first."""
    return [(a, s) for a, s in db.execute(
        select(Appointment, Site).join(Site, Site.pk == Appointment.site_pk)
        .where(Appointment.patient_pk == patient.pk, Appointment.status.in_(ACTIVE),
               Appointment.starts_at >= now)
        .order_by(Appointment.starts_at).limit(limit)).all()]
