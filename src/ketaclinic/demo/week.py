"""The demo's recent and coming weeks at each site: about 60 % of chair time booked with IV courses,
an evaluation, a follow-up and an integration session most days; what has happened already given
and discharged, and what is under way now (when the clinic is open) checked in at the chair, one
with an open alarm."""

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Chair, Site
from ketaclinic.courses.models import Course
from ketaclinic.demo.histories import evaluated_before
from ketaclinic.demo.sessions import dose_started, given_session, sign_to_start, signed_dose
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import appointments as kinds
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.patients.models import Patient, PatientMrn
from ketaclinic.scheduling import availability, booking
from ketaclinic.scheduling.models import CHECKED_IN, NO_SHOW, Appointment
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import OPEN, TreatmentSession

FILL_PCT = 80  # demo story: the most of a day's chair slots booked (50-60 % over a week)
# Courses start on the weekdays of the first two weeks, and plan more sessions than the chairs
# take, so each day has enough to fill; the patients left over come for an evaluation.
STARTS = (0, 1, 3, 2, 1, 4, 3, 7, 8, 10, 9, 8, 11, 10)
OVERBOOK_PCT = 200
NEWCOMERS = 3  # demo story: the last patients registered at a site are still to be evaluated
NO_SHOW_EVERY = 23  # demo story: about one treatment appointment in 23 is missed
READING_EVERY = timedelta(minutes=5)
# Demo story: the day's other visits at fixed local times (chairs are not needed for them).
VISITS = (("evaluation", time(9)), ("follow-up", time(11, 30)), ("integration", time(15)))
CALM = {"systolic_mmhg": 124.0, "diastolic_mmhg": 78.0, "heart_rate_bpm": 74.0, "spo2_pct": 98.0}
# A blood pressure far above every alarm limit of vital_limits.toml: the open alarm at one chair.
RAISED = {"systolic_mmhg": 188.0, "diastolic_mmhg": 112.0, "heart_rate_bpm": 96.0, "spo2_pct": 97.0}


@dataclass
class Weeks:
    """What the weeks added: sessions given (or under way, dosed) by site, and the courses."""

    given: dict[int, list[TreatmentSession]] = field(default_factory=dict)
    courses: dict[int, list[Course]] = field(default_factory=dict)
    portal_course: Course | None = None


@dataclass(frozen=True)
class Slot:
    """A treatment slot in one chair."""

    chair: Chair
    starts_at: datetime


def chair_slots(site: Site, day: date, opening: dict[int, tuple[time, time]],
                held: list[TreatmentSession] | None = None) -> list[Slot]:
    """Back-to-back IV treatment slots in each chair on a day, chairs staggered by a quarter hour
    so arrivals spread out; slots a `held` session already occupies are left out."""
    hours = opening.get(day.weekday())
    if hours is None:
        return []
    treatment = kinds.kind("iv")
    step = timedelta(minutes=-(-treatment.minutes // 15) * 15)
    length = timedelta(minutes=treatment.minutes)
    found = []
    for index, chair in enumerate(sorted(site.chairs, key=lambda c: c.name)):
        start = availability.at_local(site, day, hours[0]) + timedelta(minutes=15 * index)
        closes = availability.at_local(site, day, hours[1])
        while start + length <= closes:
            if not any(s.chair_pk == chair.pk and s.checked_in_at < start + length
                       and (s.discharged_at or s.checked_in_at) > start for s in held or []):
                found.append(Slot(chair, start))
            start += step
    return found


def add_weeks(db: Session, *, sites: list[Site], operator: Actor, now: datetime,
              portal_pk: int | None, taken: set[int],
              held: list[TreatmentSession]) -> Weeks:
    """Last week, this week and next week at every site; `taken` patients already tell a story,
    `held` sessions already occupy their chairs."""
    weeks = Weeks()
    alarm_left = True
    for site in sites:
        writer = _SiteWeeks(db, site, operator, now, held)
        courses = writer.start_courses(taken, portal_pk)
        weeks.courses[site.pk] = courses
        weeks.given[site.pk] = writer.fill_chairs(courses, with_alarm=alarm_left)
        alarm_left = alarm_left and not writer.alarm_raised
        writer.add_visits(courses, portal_pk)
        weeks.portal_course = weeks.portal_course or next(
            (c for c in courses if c.patient_pk == portal_pk), None)
    return weeks


class _SiteWeeks:
    def __init__(self, db: Session, site: Site, operator: Actor, now: datetime,
                 held: list[TreatmentSession]) -> None:
        self.db, self.site, self.operator, self.now = db, site, operator, now
        self.zone = availability.zone_of(site)
        self.today = now.astimezone(self.zone).date()
        self.first = self.today - timedelta(days=self.today.weekday() + 7)  # last week's Monday
        self.days = [self.first + timedelta(days=n) for n in range(21)]
        self.opening = availability.hours(db, site)
        self.prescriber = Actor("prescriber", "prescriber", site_pks=frozenset({site.pk}))
        self.desk = Actor("frontdesk", "front_desk", site_pks=frozenset({site.pk}))
        self.nurse = Actor("nurse", "nurse", site_pks=frozenset({site.pk}))
        self.held = [s for s in held if s.site_pk == site.pk]
        self.treatment = kinds.kind("iv")
        # One chair per site is under way when the clinic is open; the others are between
        # patients, so a test or a trainer can check a patient in at them straight away.
        self.chair_in_use = max(site.chairs, key=lambda c: c.name)
        self.slots = {day: [slot for slot in chair_slots(site, day, self.opening, self.held)
                            if slot.chair is self.chair_in_use or not self._now_in(slot)]
                      for day in self.days}
        self.alarm_raised = False
        self.newcomers: list[Patient] = []
        self.past_visits = 0  # every NO_SHOW_EVERY-th past treatment visit is missed

    def _now_in(self, slot: Slot) -> bool:
        return slot.starts_at <= self.now < slot.starts_at + timedelta(
            minutes=self.treatment.minutes)

    def capacity(self) -> int:
        """How many treatment slots the weeks hold."""
        return sum(len(s) for s in self.slots.values())

    def start_courses(self, taken: set[int], portal_pk: int | None) -> list[Course]:
        """IV courses for depression, starting through the weeks, until their planned sessions
        would fill more than the chairs should hold; the rest of the patients come for evaluation."""
        candidates = self.db.execute(select(Patient).join(PatientMrn).where(
            PatientMrn.site_pk == self.site.pk).order_by(Patient.pk)).scalars().all()
        candidates = sorted((p for p in candidates if p.pk not in taken),
                            key=lambda p: p.pk != portal_pk)  # the portal's first
        kept = NEWCOMERS if len(candidates) > NEWCOMERS else 0
        self.newcomers = candidates[len(candidates) - kept:]
        wanted = self.capacity() * FILL_PCT // 100
        planned = 0
        courses: list[Course] = []
        for patient in candidates[:len(candidates) - kept]:
            if planned > wanted * OVERBOOK_PCT // 100:
                self.newcomers.append(patient)
                continue
            start = self.first + timedelta(days=0 if patient.pk == portal_pk
                                           else STARTS[len(courses) % len(STARTS)])
            course = self._sign(patient, start)
            if course is None:
                self.newcomers.append(patient)
                continue
            courses.append(course)
            planned += len(self._planned(course))
        return courses

    def _sign(self, patient: Patient, start: date) -> Course | None:
        """Screen for IV; sign to start (cautions reviewed), evaluated a week before the start."""
        course = sign_to_start(self.db, patient=patient, route="iv", prescriber=self.prescriber,
                               plan_start=start, depression_only=True)
        if course is None:
            return None
        evaluated_before(self.db, patient, course, self.site, start, self.prescriber)
        return course

    def _planned(self, course: Course) -> list[tuple[int, date]]:
        """The course's planned sessions that fall in the weeks (number, day)."""
        return [(s.number, s.planned_on) for s in course.sessions
                if self.first <= s.planned_on <= self.days[-1]]

    def fill_chairs(self, courses: list[Course], *, with_alarm: bool) -> list[TreatmentSession]:
        """Book about FILL_PCT of each day's slots with the courses' planned sessions."""
        wanted: dict[date, list[tuple[Course, int]]] = {}
        for course in courses:
            for number, day in self._planned(course):
                wanted.setdefault(day, []).append((course, number))
        given: list[TreatmentSession] = []
        for day in self.days:
            slots = self.slots[day]
            take = min(len(wanted.get(day, [])), round(len(slots) * FILL_PCT / 100))
            chosen = random.Random(f"{self.site.code}{day}").sample(range(len(slots)), take)
            now_index = next((i for i, slot in enumerate(slots) if self._now_in(slot)), None)
            if take and now_index is not None and now_index not in chosen:
                chosen[0] = now_index  # the chair in use now is always taken
            chosen.sort()
            for index, (course, number) in zip(chosen, wanted.get(day, []), strict=False):
                treatment_session = self._treat(course, number, slots[index], with_alarm)
                if treatment_session is not None and treatment_session.dose_given:
                    given.append(treatment_session)
        return given

    def _treat(self, course: Course, number: int, slot: Slot,
               with_alarm: bool) -> TreatmentSession | None:
        """One treatment appointment: past (given or missed), under way, or booked ahead."""
        ends_at = slot.starts_at + timedelta(minutes=self.treatment.minutes)
        patient = self.db.get(Patient, course.patient_pk)
        assert patient is not None
        if slot.starts_at > self.now:
            booking.book(db=self.db, site=self.site, patient=patient, kind="iv",
                         starts_at=slot.starts_at, actor=self.desk, chair_pk=slot.chair.pk,
                         course=course, course_session=number, now=self.now)
            return None
        appointment = Appointment(
            site_pk=self.site.pk, patient_pk=patient.pk, course_pk=course.pk, kind="iv",
            chair_pk=slot.chair.pk, starts_at=slot.starts_at, ends_at=ends_at,
            course_session=number, status=CHECKED_IN, created_by=self.desk.username)
        self.db.add(appointment)
        if ends_at > self.now:
            treatment_session = self._under_way(course, slot, alarm=with_alarm and not self.alarm_raised)
        elif self.past_visits % NO_SHOW_EVERY == NO_SHOW_EVERY - 1:
            appointment.status, treatment_session = NO_SHOW, None
        else:
            treatment_session = given_session(self.db, course=course, site_pk=self.site.pk,
                                              chair_pk=slot.chair.pk, checked_in=slot.starts_at,
                                              created_by=self.nurse.username, nausea=number % 3 == 0)
        self.past_visits += 1
        appointment.treatment_session_pk = treatment_session.pk if treatment_session else None
        self.db.flush()
        return treatment_session

    def _under_way(self, course: Course, slot: Slot, *, alarm: bool) -> TreatmentSession:
        """Checked in at the slot's start; dosing after 20 minutes, observed after the 40-minute
        infusion; vital signs every 5 minutes until now, the last one alarming when asked."""
        started = self.now - slot.starts_at
        dose_start = slot.starts_at + timedelta(minutes=20)
        treatment_session = TreatmentSession(
            patient_pk=course.patient_pk, course_pk=course.pk, site_pk=self.site.pk,
            chair_pk=slot.chair.pk, route="iv", status=OPEN, checked_in_at=slot.starts_at,
            escort_present=True, created_by=self.nurse.username)
        if started >= timedelta(minutes=20):
            treatment_session.dose_start, treatment_session.ordered_by = dose_start, course.prescriber
            treatment_session.dose_given = signed_dose(course)
        if started >= timedelta(minutes=60):
            treatment_session.dose_end = dose_start + timedelta(minutes=40)
        self.db.add(treatment_session)
        self.db.flush()
        dose_started(self.db, course, treatment_session)
        moments = [slot.starts_at + READING_EVERY * n
                   for n in range(int(started / READING_EVERY) + 1)]
        readings = [Reading(moment, **CALM) for moment in moments]
        if alarm:
            readings[-1] = Reading(moments[-1], **RAISED)
            readings.insert(0, Reading(moments[0] - READING_EVERY, **CALM))  # the baseline
        _, raised = treatments.store_readings(db=self.db, treatment_session=treatment_session,
                                              chair_pk=slot.chair.pk, readings=readings,
                                              source="monitor",
                                              actor=self.nurse, device="demo monitor")
        self.alarm_raised = self.alarm_raised or bool(raised)
        return treatment_session

    def add_visits(self, courses: list[Course], portal_pk: int | None) -> None:
        """On each open day an evaluation (a newcomer), a follow-up and an integration session
        (patients in a course); the portal patient's follow-up next Friday."""
        for number, day in enumerate(self.days):
            if self.opening.get(day.weekday()) is None:
                continue
            for kind, at in VISITS:
                pool: list[Patient | Course] = list(self.newcomers if kind == "evaluation"
                                                        else courses)
                if pool:
                    self._visit(pool[number % len(pool)], kind, day, at)
        portal = next((c for c in courses if c.patient_pk == portal_pk), None)
        if portal is not None:
            self._visit(portal, "follow-up", self.days[-3], time(12))

    def _visit(self, who: Patient | Course, kind: str, day: date, at: time) -> None:
        patient = who if isinstance(who, Patient) else self.db.get(Patient, who.patient_pk)
        assert patient is not None
        course = who if isinstance(who, Course) else None
        starts_at = availability.at_local(self.site, day, at)
        if starts_at > self.now:
            # judged at the moment the week is planned, however long seeding has taken since
            booking.book(db=self.db, site=self.site, patient=patient, kind=kind,
                         starts_at=starts_at, actor=self.desk, course=course, now=self.now)
            return
        wanted = kinds.kind(kind)
        self.db.add(Appointment(
            site_pk=self.site.pk, patient_pk=patient.pk, kind=kind, starts_at=starts_at,
            course_pk=course.pk if course else None, status=CHECKED_IN,
            ends_at=starts_at + timedelta(minutes=wanted.minutes), created_by=self.desk.username))
        self.db.flush()
