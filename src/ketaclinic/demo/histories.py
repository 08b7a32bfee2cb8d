"""Demo courses with score histories: a responder, a non-responder, a late responder, a relapse
and a course still in induction, each with its treatment sessions and questionnaires."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.clinics.models import Site
from ketaclinic.courses import service as courses
from ketaclinic.courses.models import Course, CourseTransition
from ketaclinic.demo.sessions import given_session, sign_to_start
from ketaclinic.evaluations import schemas as evaluation_schemas
from ketaclinic.evaluations import service as evaluations
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.kernel.actor import Actor
from ketaclinic.measures import service as measures
from ketaclinic.measures import trajectory
from ketaclinic.patients.models import Patient, PatientMrn
from ketaclinic.treatments.models import TreatmentSession


@dataclass(frozen=True)
class Story:
    """One course: when it started, PHQ-9 before each session, and what happened after induction."""

    name: str
    started_days_ago: int
    induction_scores: tuple[int, ...]  # baseline, then before sessions 2..n given
    end_of_induction: int | None = None
    decision: str | None = None
    extension_scores: tuple[int, ...] = ()  # before each extra session (every 2 days)
    maintenance: tuple[tuple[int, int], ...] = ()  # (days after the previous session, PHQ-9)
    follow_ups: tuple[tuple[int, int], ...] = ()  # (days after the last session, PHQ-9)
    item9_last: bool = False
    sessions_given: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


STORIES = (
    Story("responder", 44, (19, 16, 13, 11, 9, 8), 7, "continue-maintenance",
          maintenance=((14, 8),), follow_ups=((7, 7),)),
    Story("non-responder", 22, (20, 19, 18, 18, 17, 17), 17, item9_last=True),
    Story("late responder", 40, (22, 20, 18, 17, 16, 15), 15, "extend",
          extension_scores=(14, 13, 12, 11, 10), follow_ups=((2, 10),)),
    Story("relapse", 70, (18, 15, 12, 9, 7, 6), 5, "continue-maintenance",
          maintenance=((18, 6),), follow_ups=((20, 13), (24, 14))),
    Story("in induction", 6, (17, 15, 13), sessions_given=3),
)


def _answers(total: int, items: int, top: int, item9: int = 0) -> list[int | None]:
    """Item answers adding up to the total, spread evenly (item 9 as given)."""
    answers = [0] * items
    left = total - item9
    index = 0
    while left > 0:
        if answers[index % (items - 1)] < top:
            answers[index % (items - 1)] += 1
            left -= 1
        index += 1
    answers[items - 1] = item9
    return list(answers)


EVALUATED_DAYS_BEFORE = 7  # demo story: the evaluation visit a week before the first session


class _Writer:
    def __init__(self, db: Session, patient: Patient, course: Course, site: Site,
                 operator: Actor) -> None:
        self.db, self.patient, self.course, self.site, self.operator = (db, patient, course, site,
                                                                        operator)
        self.given: list[TreatmentSession] = []
        self.tz = ZoneInfo(site.time_zone)
        self.chair = site.chairs[0]
        self.sessions = 0

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=self.tz)

    def treatment_session(self, day: date) -> None:
        self.sessions += 1
        # Some sessions bring the common, self-limiting side effects (every third: nausea).
        self.given.append(given_session(
            self.db, course=self.course, site_pk=self.site.pk, chair_pk=self.chair.pk,
            checked_in=self.at(day, 9), created_by=self.operator.username,
            nausea=self.sessions % 3 == 0))

    def measure(self, day: date, phq9: int, occasion: str, item9: int = 0) -> None:
        moment = self.at(day, 8, 30)
        _, alerts = measures.record(db=self.db, patient=self.patient, instrument="phq9",
                                    answers=_answers(phq9, 9, 3, item9), source="patient-link",
                                    actor=self.operator, occasion=occasion, taken_at=moment)
        gad7 = max(0, round(phq9 * 0.7))
        _, more = measures.record(db=self.db, patient=self.patient, instrument="gad7",
                                  answers=_answers(gad7, 7, 3, min(gad7, 3) if gad7 >= 21 else 0),
                                  source="patient-link", actor=self.operator, occasion=occasion,
                                  taken_at=moment)
        for alert in alerts + more:  # raised when the patient answered, as it would have been
            alert.escalate_at = moment + (alert.escalate_at - alert.raised_at)
            alert.raised_at = moment


def _tell(writer: _Writer, story: Story, today: date) -> None:
    planned = [s.planned_on for s in writer.course.sessions]
    induction = planned[:courses.induction_count(writer.course)]
    # Only days before today: a session today may not have happened yet at the hour of seeding.
    given = [d for d in induction[:story.sessions_given or len(induction)] if d < today]
    for number, day in enumerate(given):
        if number < len(story.induction_scores):
            last = (story.item9_last and story.end_of_induction is None
                    and number == len(story.induction_scores) - 1)
            writer.measure(day - timedelta(days=1) if number == 0 else day,
                           story.induction_scores[number], "baseline" if number == 0 else
                           "before-session", item9=1 if last else 0)
        writer.treatment_session(day)
    last_day = given[-1]
    if story.end_of_induction is not None:
        writer.measure(last_day + timedelta(days=1), story.end_of_induction, "end-of-induction",
                       item9=1 if story.item9_last else 0)
    if story.decision:
        trajectory.record_decision(db=writer.db, course=writer.course, patient=writer.patient,
                                   decision=story.decision, note="Discussed with the patient (demo).",
                                   actor=Actor("prescriber", "prescriber",
                                               site_pks=frozenset({writer.site.pk})),
                                   time_zone=writer.site.time_zone)
    day = last_day + timedelta(days=2)
    for score in story.extension_scores:
        writer.measure(day, score, "before-session")
        writer.treatment_session(day)
        last_day, day = day, day + timedelta(days=2)
    for gap, score in story.maintenance:
        day = last_day + timedelta(days=gap)
        writer.measure(day, score, "before-session")
        writer.treatment_session(day)
        last_day = day
    for gap, score in story.follow_ups:
        writer.measure(min(last_day + timedelta(days=gap), today - timedelta(days=1)), score,
                       "follow-up")


def evaluated_before(db: Session, patient: Patient, course: Course, site: Site,
                     start: date, prescriber: Actor) -> None:
    """The story as a clinic lives it: evaluated, signed and consented a week before the first
    session, or an hour ago for a course starting sooner (the screening itself ran on today's
    chart)."""
    seen = min(datetime.combine(start - timedelta(days=EVALUATED_DAYS_BEFORE), time(10),
                                tzinfo=ZoneInfo(site.time_zone)),
               clock.now() - timedelta(hours=1)).astimezone(ZoneInfo(site.time_zone))
    evaluation = db.execute(select(Evaluation).where(Evaluation.pk == course.evaluation_pk)
                            ).scalar_one()
    evaluation.screened_on = seen.date()
    evaluation.created_at = seen
    evaluation.signed_at = course.signed_at = course.created_at = seen + timedelta(minutes=40)
    for transition in db.execute(select(CourseTransition).where(
            CourseTransition.course_pk == course.pk)).scalars():
        transition.at = transition.created_at = course.signed_at
    evaluations.record_consent(db=db, patient_id=str(patient.id), actor=prescriber,
                               data=evaluation_schemas.ConsentIn(given_on=seen.date()))


def add_course_histories(db: Session, *, site_code: str, operator: Actor, today: date
                         ) -> tuple[dict[str, str], list[TreatmentSession]]:
    """One demo patient per story at the site, IV for depression; returns story -> patient id and
    the sessions given (for the stock to dispense)."""
    site = db.execute(select(Site).where(Site.code == site_code)).scalar_one()
    prescriber = Actor("prescriber", "prescriber", site_pks=frozenset({site.pk}))
    candidates = db.execute(select(Patient).join(PatientMrn).where(PatientMrn.site_pk == site.pk)
                            .order_by(Patient.pk.desc())).scalars().all()
    told: dict[str, str] = {}
    given: list[TreatmentSession] = []
    stories = list(STORIES)
    for patient in candidates:
        if not stories:
            break
        story = stories[0]
        start = today - timedelta(days=story.started_days_ago)
        evaluation = sign_to_start(db, patient=patient, route="iv", prescriber=prescriber,
                                   plan_start=start, depression_only=True)
        if evaluation is None:
            continue
        evaluated_before(db, patient, evaluation, site, start, prescriber)
        writer = _Writer(db, patient, evaluation, site, operator)
        _tell(writer, story, today)
        given.extend(writer.given)
        told[story.name] = str(patient.id)
        stories.pop(0)
    return told, given
