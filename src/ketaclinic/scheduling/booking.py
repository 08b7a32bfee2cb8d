"""Booking: one appointment, or a course's whole induction series (proposed first, with the
nearest valid alternatives, saved only when confirmed); moving, cancelling, no-shows."""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.clinics import rules as clinic_rules
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.courses.models import Course, PlannedSession
from ketaclinic.errors import Conflict, FieldProblem, InvalidInput, invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import appointments as rules
from ketaclinic.knowledge.monitoring import observation_of
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import availability, reminders
from ketaclinic.scheduling.availability import ACTIVE, Held
from ketaclinic.scheduling.models import BOOKED, CANCELLED, CHECKED_IN, NO_SHOW, Appointment

ALTERNATIVES = 3
SEARCH_DAYS = (0, -1, 1, -2, 2, -3, 3)


def checked_in(*, db: Session, appointment: Appointment, treatment_session_pk: int) -> Appointment:
    """Mark a booked treatment appointment as checked in to the session opened for it."""
    if not can_check_in(appointment):
        raise Conflict("only a booked treatment appointment of a course can be checked in")
    appointment.status = CHECKED_IN
    appointment.treatment_session_pk = treatment_session_pk
    db.flush()
    return appointment


def can_check_in(appointment: Appointment) -> bool:
    """Whether the appointment is a booked treatment of a course, at a chair."""
    return (appointment.status == BOOKED and appointment.chair_pk is not None
            and appointment.course_pk is not None)


def lock_site(db: Session, site_pk: int) -> Site:
    """The site, locked for this transaction: bookings at one site take turns (PostgreSQL row
    lock; SQLite serialises writers), so two desks cannot both take the last chair. FOR NO KEY
    UPDATE: bookings exclude each other, but need not wait for every transaction that wrote a
    row naming the site (each holds a KEY SHARE lock on it through its foreign key)."""
    return db.execute(select(Site).where(Site.pk == site_pk).with_for_update(key_share=True)
                      ).scalar_one()


def kind_of(db: Session, name: str, indication: str = "depression") -> rules.AppointmentKind:
    """An appointment kind as the clinic books it (a treatment holds its chair for the clinic's
    minimum observation, from its rule set), or InvalidInput naming the accepted kinds."""
    try:
        shipped = rules.kind(name, indication)
    except KeyError:
        raise invalid("kind", f"{name!r} is not an appointment kind",
                      ", ".join(rules.kinds())) from None
    if shipped.route is None:
        return shipped
    return shipped.observed_for(observation_of(clinic_rules.current_ruleset(db=db), shipped.route))


def _audit(db: Session, actor: Actor, appointment: Appointment, patient_id: object, action: str,
           detail: str) -> None:
    audit.record(db=db, actor=actor, action=action, record_type="Appointment",
                 record_id=appointment.id, patient_id=patient_id, detail=detail)


def book(*, db: Session, site: Site, patient: Patient, kind: str, starts_at: datetime,
         actor: Actor, chair_pk: int | None = None, course: Course | None = None,
         course_session: int | None = None, note: str = "",
         now: datetime | None = None) -> Appointment:
    """Book one appointment, refused with the reasons when it does not fit; `now` (default: the
    clock) is when the booking is decided (the demo's week is planned at one moment)."""
    if patient.deceased:
        raise Conflict("cannot book: the patient is recorded as deceased"
                       + (f" (died {patient.deceased_on.isoformat()})" if patient.deceased_on else ""))
    wanted = kind_of(db, kind, course.indication if course else "depression")
    site = lock_site(db, site.pk)
    found = availability.fit(db, site=site, kind=wanted, starts_at=starts_at, chair_pk=chair_pk,
                             now=now)
    if found.problems:
        raise Conflict("cannot book: " + "; ".join(found.problems))
    appointment = Appointment(
        site_pk=site.pk, patient_pk=patient.pk, course_pk=course.pk if course else None,
        kind=kind, chair_pk=found.chair.pk if found.chair else None, starts_at=starts_at,
        ends_at=found.ends_at, course_session=course_session, note=note[:500],
        created_by=actor.username)
    db.add(appointment)
    db.flush()
    reminders.schedule(db, appointment, patient)
    _audit(db, actor, appointment, patient.id, "book", f"{kind} {starts_at.isoformat()}")
    return appointment


@dataclass
class SlotProposal:
    """One planned session of a series: the slot asked for, whether it fits, and alternatives."""

    course_session: int
    planned_day: date
    starts_at: datetime
    chair: str | None
    problems: list[str]
    alternatives: list[tuple[datetime, str | None]] = field(default_factory=list)


def unbooked(db: Session, course: Course) -> list[PlannedSession]:
    """The planned sessions with no active appointment."""
    taken = set(db.execute(select(Appointment.course_session).where(
        Appointment.course_pk == course.pk, Appointment.status.in_(ACTIVE))).scalars())
    return [s for s in course.sessions if s.number not in taken]


def _week_bounds(course: Course, planned: PlannedSession) -> tuple[date, date]:
    """The days an alternative may take: the planned session's own week of the course."""
    first = course.sessions[0].planned_on
    start = first + timedelta(days=7 * (planned.week - 1))
    return start, start + timedelta(days=6)


def _spaced(day: date, others: list[date], min_days: int) -> bool:
    return all(abs((day - other).days) >= min_days for other in others)


def propose_series(*, db: Session, site: Site, course: Course, at: time
                   ) -> list[SlotProposal]:
    """Check every unbooked planned session at the same local time; for each that does not fit,
    the nearest valid alternatives within its week that keep the course's spacing. Saves nothing."""
    wanted = kind_of(db, course.route, course.indication)
    held: list[Held] = []
    chosen: dict[int, date] = {}
    booked_days = _booked_days(db, course)
    proposals = []
    todo = unbooked(db, course)
    planned = {s.number: s.planned_on for s in todo}
    for planned_session in todo:
        number = planned_session.number
        day = planned[number]  # the plan already keeps the course's spacing
        starts_at = availability.at_local(site, day, at)
        found = availability.fit(db, site=site, kind=wanted, starts_at=starts_at, also_held=held)
        proposal = SlotProposal(number, day, starts_at, found.chair.name if found.chair else None,
                                list(found.problems))
        if not proposal.problems:
            held.append(Held(found.chair.pk if found.chair else None, found.starts_at,
                             found.ends_at, wanted.kind))
            chosen[number] = day
        else:
            first, last = _week_bounds(course, planned_session)
            spaced_from = booked_days + list(chosen.values()) + [
                d for n, d in planned.items() if n > number]
            proposal.alternatives = _alternatives(db, site, wanted, day, at, first, last,
                                                  spaced_from, held)
            if proposal.alternatives:
                best, _ = proposal.alternatives[0]
                alt = availability.fit(db, site=site, kind=wanted, starts_at=best, also_held=held)
                held.append(Held(alt.chair.pk if alt.chair else None, alt.starts_at, alt.ends_at,
                                 wanted.kind))
                chosen[number] = clock.date_in(best, availability.zone_of(site))
        proposals.append(proposal)
    return proposals


def _booked_days(db: Session, course: Course) -> list[date]:
    site_zone = {s.pk: availability.zone_of(s) for s in db.execute(select(Site)).scalars()}
    rows = db.execute(select(Appointment).where(Appointment.course_pk == course.pk,
                                                Appointment.status.in_(ACTIVE))).scalars()
    return [clock.date_in(a.starts_at, site_zone[a.site_pk]) for a in rows]


def _alternatives(db: Session, site: Site, kind: rules.AppointmentKind, day: date, at: time,
                  first: date, last: date, spaced_from: list[date], held: list[Held]
                  ) -> list[tuple[datetime, str | None]]:
    found: list[tuple[datetime, str | None]] = []
    step = rules.booking_rules().slot_step_min
    for shift in SEARCH_DAYS:
        candidate = day + timedelta(days=shift)
        if not first <= candidate <= last or not _spaced(candidate, spaced_from,
                                                         kind.min_days_apart):
            continue
        opening = availability.hours(db, site).get(candidate.weekday())
        if opening is None:
            continue
        times = sorted(_times(opening, step), key=lambda t: abs(_minutes(t) - _minutes(at)))
        for local_time in times:
            starts_at = availability.at_local(site, candidate, local_time)
            result = availability.fit(db, site=site, kind=kind, starts_at=starts_at,
                                      also_held=held)
            if not result.problems:
                found.append((starts_at, result.chair.name if result.chair else None))
                break
        if len(found) >= ALTERNATIVES:
            break
    return found


def _minutes(local_time: time) -> int:
    return local_time.hour * 60 + local_time.minute


def _times(opening: tuple[time, time], step: int) -> list[time]:
    start, end = _minutes(opening[0]), _minutes(opening[1])
    return [time(m // 60, m % 60) for m in range(start, end, step)]


def book_series(*, db: Session, site: Site, course: Course, patient: Patient,
                slots: list[tuple[int, datetime]], actor: Actor) -> list[Appointment]:
    """Book the chosen slots of a series all together, or none (each problem named)."""
    wanted = kind_of(db, course.route, course.indication)
    site = lock_site(db, site.pk)
    open_numbers = {s.number for s in unbooked(db, course)}
    zone = availability.zone_of(site)
    problems: list[FieldProblem] = []
    held: list[Held] = []
    fits = []
    days = _booked_days(db, course)
    for index, (number, starts_at) in enumerate(slots):
        field_name = f"slots[{index}]"
        if number not in open_numbers:
            problems.append(FieldProblem(f"{field_name}.course_session",
                                         f"session {number} is not an unbooked planned session",
                                         ", ".join(str(n) for n in sorted(open_numbers))))
            continue
        day = clock.date_in(starts_at, zone)
        if not _spaced(day, days, wanted.min_days_apart):
            problems.append(FieldProblem(f"{field_name}.starts_at", f"session {number} on {day} "
                                         f"is less than {wanted.min_days_apart} day(s) from "
                                         "another session", wanted.spacing_source))
        days.append(day)
        found = availability.fit(db, site=site, kind=wanted, starts_at=starts_at, also_held=held)
        problems.extend(FieldProblem(f"{field_name}.starts_at", f"session {number}: {p}",
                                     "a slot from the proposal") for p in found.problems)
        if not found.problems:
            held.append(Held(found.chair.pk if found.chair else None, found.starts_at,
                             found.ends_at, wanted.kind))
        fits.append((number, found))
    if problems:
        raise InvalidInput(problems)
    series = uuid.uuid4()
    made = []
    for number, found in fits:
        appointment = Appointment(
            site_pk=site.pk, patient_pk=patient.pk, course_pk=course.pk,
            kind=wanted.kind, chair_pk=found.chair.pk if found.chair else None,
            starts_at=found.starts_at, ends_at=found.ends_at, course_session=number,
            series_id=series, created_by=actor.username)
        db.add(appointment)
        db.flush()
        reminders.schedule(db, appointment, patient)
        made.append(appointment)
    audit.record(db=db, actor=actor, action="book", record_type="Appointment", record_id=series,
                 patient_id=patient.id, detail=f"{len(made)} sessions of the course: " + ", ".join(
                     f"#{a.course_session} {a.starts_at.astimezone(zone):%Y-%m-%d %H:%M}"
                     for a in made))
    return made


def move(*, db: Session, appointment: Appointment, starts_at: datetime, patient: Patient,
         actor: Actor, chair_pk: int | None = None) -> Appointment:
    """Move one appointment (the others of its series stay as they are)."""
    if appointment.status != BOOKED:
        raise Conflict(f"the appointment is {appointment.status}")
    course = db.get(Course, appointment.course_pk) if appointment.course_pk else None
    wanted = kind_of(db, appointment.kind, course.indication if course else "depression")
    site = lock_site(db, appointment.site_pk)
    found = availability.fit(db, site=site, kind=wanted, starts_at=starts_at, chair_pk=chair_pk,
                             ignore_pk=appointment.pk)
    if course is not None:
        zone = availability.zone_of(site)
        others = [clock.date_in(a.starts_at, zone) for a in db.execute(select(Appointment).where(
            Appointment.course_pk == course.pk, Appointment.status.in_(ACTIVE),
            Appointment.pk != appointment.pk)).scalars()]
        if not _spaced(clock.date_in(starts_at, zone), others, wanted.min_days_apart):
            found.problems.append(f"less than {wanted.min_days_apart} day(s) from another "
                                  f"session of the course ({wanted.spacing_source})")
    if found.problems:
        raise Conflict("cannot move: " + "; ".join(found.problems))
    before = appointment.starts_at
    appointment.starts_at, appointment.ends_at = found.starts_at, found.ends_at
    appointment.chair_pk = found.chair.pk if found.chair else None
    db.flush()
    reminders.reschedule(db, appointment, patient)
    _audit(db, actor, appointment, patient.id, "move",
           f"from {before.isoformat()} to {starts_at.isoformat()}")
    return appointment


def cancel(*, db: Session, appointment: Appointment, reason: str, patient: Patient,
           actor: Actor) -> Appointment:
    """Cancel with a reason; late when within the table's notice period."""
    if appointment.status != BOOKED:
        raise Conflict(f"the appointment is {appointment.status}")
    if len(reason.strip()) < 3:
        raise invalid("reason", "say why", "a short reason")
    now = clock.now()
    notice = timedelta(hours=rules.booking_rules().late_cancel_hours)
    appointment.status = CANCELLED
    appointment.cancelled_at = now
    appointment.cancel_reason = reason.strip()[:500]
    appointment.late_cancel = appointment.starts_at - now < notice
    db.flush()
    reminders.cancel_pending(db, appointment)
    _audit(db, actor, appointment, patient.id, "cancel",
           f"{'late ' if appointment.late_cancel else ''}cancellation: {reason.strip()[:200]}")
    return appointment


# The reason given on an appointment cancelled because its patient has died.
PATIENT_DIED = "the patient is recorded as deceased"
# Who cancels those found by the worker's sweep (a death sent by an EHR or imported).
SWEEPER = Actor(username="scheduling", role="system", client="worker")


def cancel_after_death(*, db: Session, actor: Actor = SWEEPER, patient_pk: int | None = None,
                       now: datetime | None = None) -> list[Appointment]:
    """Cancel every appointment still booked ahead for a patient recorded as deceased (only
    this patient's when `patient_pk` is given), with its pending reminders: not a late
    cancellation, so it counts against no one's attendance."""
    moment = now or clock.now()
    found = select(Appointment, Patient.id).join(Patient, Patient.pk == Appointment.patient_pk).where(
        Patient.deceased.is_(True), Appointment.status == BOOKED, Appointment.starts_at > moment)
    if patient_pk is not None:
        found = found.where(Patient.pk == patient_pk)
    rows = db.execute(found.order_by(Appointment.starts_at)
                      .with_for_update(of=Appointment, skip_locked=True)).all()
    for appointment, patient_id in rows:
        appointment.status = CANCELLED
        appointment.cancelled_at = moment
        appointment.cancel_reason = PATIENT_DIED
        appointment.late_cancel = False
        db.flush()
        reminders.cancel_pending(db, appointment)
        _audit(db, actor, appointment, patient_id, "cancel", f"cancellation: {PATIENT_DIED}")
    return [appointment for appointment, _ in rows]


def no_show(*, db: Session, appointment: Appointment, patient: Patient,
            actor: Actor) -> Appointment:
    """Record that the patient did not come (only once the appointment has started)."""
    if appointment.status != BOOKED:
        raise Conflict(f"the appointment is {appointment.status}")
    if appointment.starts_at > clock.now():
        raise Conflict("the appointment has not started yet")
    appointment.status = NO_SHOW
    db.flush()
    _audit(db, actor, appointment, patient.id, "no-show", appointment.kind)
    return appointment


def chair_name(db: Session, chair_pk: int | None) -> str | None:
    """A chair's name."""
    if chair_pk is None:
        return None
    return db.execute(select(Chair.name).where(Chair.pk == chair_pk)).scalar_one()
