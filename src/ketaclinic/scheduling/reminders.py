"""Appointment reminders by email: scheduled at booking, sent by the worker, retried when the
mail server fails, and left visibly failed after the last try, never silently lost."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic import mail as email
from ketaclinic.clinics.models import Site
from ketaclinic.knowledge import appointments as rules
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.availability import zone_of
from ketaclinic.scheduling.calendar import invitation
from ketaclinic.scheduling.models import BOOKED, Appointment, Reminder

PENDING, SENT, FAILED, CANCELLED = "pending", "sent", "failed", "cancelled"


def _due(appointment: Appointment) -> datetime:
    lead = timedelta(hours=rules.reminder_rules().hours_before)
    return max(appointment.starts_at - lead, clock.now())


def schedule(db: Session, appointment: Appointment, patient: Patient) -> Reminder:
    """A pending reminder for a new appointment (failed at once when there is no address)."""
    reminder = Reminder(appointment_pk=appointment.pk, to_address=patient.email or "",
                        next_attempt_at=_due(appointment), created_by="scheduler")
    if not patient.email:
        reminder.status = FAILED
        reminder.last_error = "the patient has no email address on record"
    db.add(reminder)
    db.flush()
    return reminder


def cancel_pending(db: Session, appointment: Appointment) -> None:
    """Stop the reminders not yet sent."""
    for reminder in db.execute(select(Reminder).where(
            Reminder.appointment_pk == appointment.pk, Reminder.status == PENDING)).scalars():
        reminder.status = CANCELLED
    db.flush()


def reschedule(db: Session, appointment: Appointment, patient: Patient) -> None:
    """After a move: the pending reminder follows; one already sent gets a new one."""
    cancel_pending(db, appointment)
    schedule(db, appointment, patient)


def message(db: Session, appointment: Appointment, patient: Patient,
            questionnaire_url: str | None) -> email.Email:
    """The reminder: when and where, what to bring and arrange, the questionnaire when due."""
    site = db.get(Site, appointment.site_pk)
    assert site is not None
    kind = rules.kind(appointment.kind)
    # as long as it was booked for (a treatment holds its chair for the clinic's observation)
    booked = int((appointment.ends_at - appointment.starts_at).total_seconds() // 60)
    said = rules.reminder_rules()
    local = appointment.starts_at.astimezone(zone_of(site))
    lines = [f"Hello {patient.given_name},", "",
             f"This is a reminder of your {kind.label.lower()} at {site.name} on "
             f"{local:%A %d %B %Y at %H:%M} ({site.time_zone}). Plan to be with us for about "
             f"{booked // 60} h {booked % 60:02d} min.",
             f"Address: {site.address or site.name}", ""]
    if kind.route == "esketamine":
        lines += [f"Before you come: {said.esketamine_fasting}", ""]
    if kind.chair:
        lines += [said.ride_home, ""]
    if questionnaire_url:
        lines += ["Please answer a few short questions before your visit (about 5 minutes):",
                  questionnaire_url, ""]
    lines += ["To change or cancel, please call the clinic. If you are in crisis, do not wait for "
              "your appointment: call your local emergency number."]
    subject = f"Your appointment at {site.name} on {local:%a %d %b, %H:%M}"
    return email.Email(patient.email or "", subject, "\n".join(lines),
                       attachments=(email.Attachment("appointment.ics", "text/calendar",
                                                     invitation(db, appointment)),))


def _questionnaire(db: Session, appointment: Appointment, patient: Patient) -> str | None:
    """A questionnaire link when the course has one due on the appointment's day."""
    from ketaclinic.courses import service as courses
    from ketaclinic.courses.models import Course
    from ketaclinic.measures import links
    from ketaclinic.measures import schemas as measure_schemas
    from ketaclinic.measures.models import MeasureRequest

    if appointment.course_pk is None:
        return None
    course = db.get(Course, appointment.course_pk)
    site = db.get(Site, appointment.site_pk)
    if course is None or site is None:
        return None
    day = clock.date_in(appointment.starts_at, zone_of(site))
    occasion = courses.occasion_on(course, day)
    if occasion is None or db.execute(select(MeasureRequest.pk).where(
            MeasureRequest.course_pk == course.pk, MeasureRequest.due_on == day)).first():
        return None
    from ketaclinic.kernel.actor import Actor

    system = Actor("reminders", "system", site_pks=frozenset({site.pk}), client="worker")
    _, url = links.create(db=db, patient_id=str(patient.id), actor=system,
                          data=measure_schemas.LinkIn(occasion=occasion, due_on=day,
                                                             email=False))
    return url


def send_due(db: Session, now: datetime | None = None) -> list[Reminder]:
    """Send every pending reminder that is due; a failure is retried later, then marked failed."""
    moment = now or clock.now()
    due: Sequence[Reminder] = db.execute(
        select(Reminder).where(Reminder.status == PENDING, Reminder.next_attempt_at <= moment)
        .order_by(Reminder.next_attempt_at).with_for_update(skip_locked=True)).scalars().all()
    retries = rules.reminder_rules()
    for reminder in due:
        appointment = db.get(Appointment, reminder.appointment_pk)
        assert appointment is not None
        if appointment.status != BOOKED or appointment.starts_at <= moment:
            reminder.status = CANCELLED
            continue
        patient = db.get(Patient, appointment.patient_pk)
        assert patient is not None
        if patient.deceased:  # no message to the family of a patient who has died
            reminder.status = CANCELLED
            reminder.last_error = "the patient is recorded as deceased"
            continue
        reminder.attempts += 1
        try:
            email.sender().send(message(db, appointment, patient,
                                        _questionnaire(db, appointment, patient)))
        except email.EmailNotSent as exc:
            reminder.last_error = str(exc)[:500]
            retry = email.next_attempt(attempts=reminder.attempts, waits_min=list(retries.retry_after_min),
                                       max_attempts=retries.max_attempts, after=moment)
            if retry is None:
                reminder.status = FAILED
            else:
                reminder.next_attempt_at = retry
            continue
        reminder.status = SENT
        reminder.sent_at = moment
        reminder.last_error = ""
    db.flush()
    return list(due)
