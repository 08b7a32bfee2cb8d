"""Treatment-session use cases: open a session at a chair, take in readings from any source."""

import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from math import inf
from operator import attrgetter
from typing import Any, Protocol, cast

from sqlalchemy import (
    CompoundSelect,
    Select,
    String,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth.models import User
from ketaclinic.clinics import rules as clinic_rules
from ketaclinic.clinics.models import Chair
from ketaclinic.courses import service as courses
from ketaclinic.courses.models import Course
from ketaclinic.db import UTCDateTime, by_public_id
from ketaclinic.errors import Conflict, FieldProblem, InvalidInput, NotFound, invalid, public_id
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.kept_rows import kept_rows
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.time_ordered_ids import time_ordered_ids
from ketaclinic.knowledge import dosing, session_events
from ketaclinic.knowledge.monitoring import (
    WATCHED_SIGNS,
    Alarm,
    AlarmLimits,
    ChairRules,
    Missing,
    Reading,
    alarm_limits,
    alarms_for,
    chair_rules,
    discharge_missing,
    judged_pressure,
    may_alarm,
    new_alarms,
    newest_holding_each,
    next_reading_due,
    observation_ends,
    override_covers,
    pre_dose_problem,
)
from ketaclinic.knowledge.record import pressure_text
from ketaclinic.knowledge.ruleset import RuleSet
from ketaclinic.knowledge.vital_limits import plausible_ranges
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient
from ketaclinic.patients.service import FUTURE_TOLERANCE, vital_problems
from ketaclinic.treatments import checks, reading_tally, schemas
from ketaclinic.treatments.models import (
    DISCHARGED,
    OPEN,
    GivenDose,
    MonitorMessage,
    SessionAddendum,
    SessionAlarm,
    SessionEvent,
    SessionReading,
    TreatmentSession,
)

VITAL_FIELDS = ("systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "respiratory_rate_per_min",
                "spo2_pct", "temperature_c")


def open_treatment_session(*, db: Session, patient_id: str, data: schemas.SessionIn,
                           actor: Actor) -> TreatmentSession:
    """Check the patient in at a chair of their site, for a course signed to start."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="check-in")
    evaluation = by_public_id(db, Evaluation, data.evaluation_id, "evaluation")
    chair = by_public_id(db, Chair, data.chair_id, "chair")
    if evaluation.patient_pk != patient.pk:
        raise NotFound("no such evaluation")
    course = courses.of_evaluation(db, evaluation.pk)
    if course is None:
        raise Conflict("the evaluation is not signed to start: no session can be opened")
    if chair.site_pk not in patient.site_pks or chair.site_pk not in actor.site_pks:
        raise invalid("chair_id", "the chair is not at this patient's site and yours",
                      "a chair of the site")
    if treatment_session_at_chair(db=db, chair_pk=chair.pk) is not None:
        raise Conflict(f"{chair.name} already has an open session")
    treatment_session = TreatmentSession(patient_pk=patient.pk, course_pk=course.pk,
                                         site_pk=chair.site_pk, chair_pk=chair.pk, route=course.route,
                                         checked_in_at=clock.now(), created_by=actor.username)
    db.add(treatment_session)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="TreatmentSession",
                 record_id=treatment_session.id, patient_id=patient.id, detail=f"check-in at {chair.name}")
    return treatment_session


def open_booked(*, db: Session, patient_pk: int, course_pk: int, chair_pk: int,
                actor: Actor) -> TreatmentSession:
    """Check in at its chair the patient of a treatment booked for a course (same checks)."""
    patient_id = db.execute(select(Patient.id).where(Patient.pk == patient_pk)).scalar_one()
    chair_id = db.execute(select(Chair.id).where(Chair.pk == chair_pk)).scalar_one()
    course = courses.by_pk(db, course_pk)
    data = schemas.SessionIn(evaluation_id=str(course.id), chair_id=str(chair_id))
    return open_treatment_session(db=db, patient_id=str(patient_id), data=data, actor=actor)


def treatment_session_at_chair(*, db: Session, chair_pk: int) -> TreatmentSession | None:
    """The open session at a chair, if any."""
    return db.execute(select(TreatmentSession).where(TreatmentSession.chair_pk == chair_pk,
                                                     TreatmentSession.status == OPEN)
                      ).scalars().first()


# Readings typed a little late may be from before the check-in (the waiting room); a day is the
# outer bound of plausible, not a clinical rule.
READINGS_BEFORE_CHECK_IN = timedelta(hours=24)


def _happened(field: str, moment: datetime | None) -> datetime:
    """A charted time (default now): something that has happened, so not in the future."""
    now = clock.now()
    if moment is not None and moment > now + FUTURE_TOLERANCE:
        raise invalid(field, f"{moment.isoformat(timespec='minutes')} is in the future",
                      "now or earlier")
    return moment or now


_VITALS_OF = attrgetter(*VITAL_FIELDS)
_NO_VITALS = (None,) * len(VITAL_FIELDS)


def _check(readings: Sequence[schemas.ReadingIn], earliest: datetime) -> list[Reading]:
    """The readings as the monitoring engine reads them, or every problem with them (named
    readings[i].field in a batch); a reading is taken between `earliest` (a day before
    check-in) and now."""
    if not readings:
        return []
    now = clock.now()
    limits = _limits()
    taken = [reading.taken_at or now for reading in readings]
    vitals = [_VITALS_OF(reading) for reading in readings]
    if not _all_plausible(taken, vitals, earliest, now + FUTURE_TOLERANCE, limits) and (
            problems := _problems(taken, vitals, earliest, now, limits)):
        raise InvalidInput(problems)
    return [Reading(moment, *values) for moment, values in zip(taken, vitals, strict=True)]


def _limits() -> list[tuple[float, float]]:
    """The plausible range of each vital sign, in VITAL_FIELDS order."""
    ranges = plausible_ranges()
    return [(ranges[name].min, ranges[name].max) if name in ranges else (-inf, inf)
            for name in VITAL_FIELDS]


def _all_plausible(taken: list[datetime], vitals: list[tuple[float | None, ...]],
                   earliest: datetime, latest: datetime,
                   limits: list[tuple[float, float]]) -> bool:
    # The common case, a batch with every value possible and every time in the past, decided
    # a column at a time (min, max and sum run in C); the wording of problems is left to
    # `_problems`. A NaN makes its column's sum NaN, which equals nothing.
    if min(taken) < earliest or max(taken) > latest or _NO_VITALS in vitals:
        return False
    columns = list(zip(*vitals, strict=True))
    for column, (low, high) in zip(columns, limits, strict=True):
        present = [value for value in column if value is not None]
        if present and not (low <= min(present) and max(present) <= high
                            and (total := sum(present)) == total):
            return False
    return all(diastolic < systolic for systolic, diastolic in zip(columns[0], columns[1], strict=True)
               if systolic is not None and diastolic is not None)


def _problems(taken: list[datetime], vitals: list[tuple[float | None, ...]], earliest: datetime,
              now: datetime, limits: list[tuple[float, float]]) -> list[FieldProblem]:
    """Every problem of every reading of a batch, worded (each reading checked in full)."""
    latest = now + FUTURE_TOLERANCE
    problems: list[FieldProblem] = []
    for index, (moment, values) in enumerate(zip(taken, vitals, strict=True)):
        systolic, diastolic = values[0], values[1]
        if (earliest <= moment <= latest and values != _NO_VITALS
                and (systolic is None or diastolic is None or diastolic < systolic)
                and all(value is None or low <= value <= high
                        for value, (low, high) in zip(values, limits, strict=True))):
            continue
        named = dict(zip(VITAL_FIELDS, values, strict=True))
        found = vital_problems({**named, "taken_at": moment, "measured_at": moment}, now)
        if moment < earliest:
            found.append(FieldProblem("taken_at", "is more than a day before the check-in",
                                      f"{earliest.isoformat(timespec='minutes')} to now"))
        prefix = f"readings[{index}]." if len(taken) > 1 else ""
        problems += [FieldProblem(prefix + p.field.replace("measured_at", "taken_at"),
                                  p.message, p.accepted) for p in found]
    return problems


# A session not dosed yet: every reading so far is before its dose.
_NOT_DOSED = literal(datetime(9999, 12, 31, tzinfo=UTC), UTCDateTime())


def _baseline(columns: Sequence[Any], session_pk: Any, dose_start: Any,
              holding: Any = SessionReading.systolic_mmhg) -> Select[Any]:
    """SQL: these columns of a session's baseline reading, the last blood pressure (or reading
    `holding` another sign) taken before dosing (or yet, if not dosed); the one definition every
    reader of the baseline uses. The dose bound is an index bound on (session, time), for a
    dosed session and one not dosed alike."""
    reading = SessionReading
    # LIMIT 1 in the text, not bound: PostgreSQL prices a bound limit at a tenth of the rows, so
    # its plan for any values of a prepared statement holding this looked dearer than one made
    # for the values, and it planned the batch's session statement anew at every batch.
    return (select(*columns)
            .where(reading.session_pk == session_pk, holding.is_not(None),
                   reading.taken_at <= func.coalesce(dose_start, _NOT_DOSED))
            .order_by(reading.taken_at.desc(), reading.pk.desc()).limit(literal_column("1")))


# Built once: these run for every batch of readings, and building a statement and its cache
# key costs about as much as running it.
_BASELINE = _baseline((SessionReading.taken_at, *(getattr(SessionReading, k) for k in VITAL_FIELDS)),
                      bindparam("session_pk"), bindparam("dose_start", type_=UTCDateTime()))
# The key of the baseline of the session a statement selects (correlated to its row).
_BASELINE_KEY = (_baseline((SessionReading.pk,), TreatmentSession.pk, TreatmentSession.dose_start)
                 .correlate(TreatmentSession).scalar_subquery())


# The baseline with its heart rate: when the pressure was taken without one (a cuff's pressure,
# typed or sent alone), the last heart rate taken before dosing (or yet, if not dosed), read in
# the same statement and only then (COALESCE evaluates its second argument only when needed).
_BASELINE_PRESSURE = _BASELINE.subquery()
_BASELINE_WITH_HEART_RATE = select(*(
    func.coalesce(column, _baseline(
        (SessionReading.heart_rate_bpm,), bindparam("session_pk"),
        bindparam("dose_start", type_=UTCDateTime()), holding=SessionReading.heart_rate_bpm,
    ).scalar_subquery()).label(column.name) if column.name == "heart_rate_bpm" else column
    for column in _BASELINE_PRESSURE.c))


def clinic_limits(db: Session) -> ChairRules:
    """The clinic's rule set as the chair applies it (limits, observation minimums, discharge's
    heart rate), from one read of it."""
    return chair_rules(clinic_rules.current_ruleset(db=db))


def baseline_of(db: Session, treatment_session: TreatmentSession) -> Reading | None:
    """The last blood pressure taken before dosing (a re-measurement replaces a high one). When
    it was taken without a heart rate, its heart rate is the last one taken before dosing:
    discharge compares the heart rate with the baseline's."""
    latest = db.execute(_BASELINE_WITH_HEART_RATE, {
        "session_pk": treatment_session.pk, "dose_start": treatment_session.dose_start}).first()
    return Reading(*latest) if latest is not None else None


class SessionKeys(Protocol):
    """What storing a session's readings and deciding their alarms read of the session: a
    record, or a `ChairSession` read as columns."""

    @property
    def pk(self) -> int: ...

    @property
    def dose_start(self) -> datetime | None: ...


@dataclass(frozen=True)
class ChairSession:
    """What a batch of readings needs of its session, read as columns rather than as a record
    (a monitor's gateway posts batches all session long; loading the record, with its checks
    and overrides as JSON, cost about a quarter of a millisecond a batch)."""

    pk: int
    id: uuid.UUID
    status: str
    chair_pk: int
    checked_in_at: datetime
    dose_start: datetime | None


def as_reading(row: SessionReading) -> Reading:
    """A stored reading as the monitoring engine reads it."""
    return Reading(row.taken_at, **{k: getattr(row, k) for k in VITAL_FIELDS})


def store_readings(*, db: Session, treatment_session: SessionKeys | None, chair_pk: int | None,
                   readings: Sequence[Reading], source: str, actor: Actor, device: str = "",
                   message_pk: int | None = None, watch: "AlarmWatch | None" = None
                   ) -> tuple[int, list[SessionAlarm]]:
    """Store checked readings in one bulk insert and raise the alarms they cause (decided on
    `watch`, the session's alarm state as stored now, read here when not given).

    Alarms are decided before the insert, so the rows go in without RETURNING (the fast path);
    only the few readings that alarm are looked up again for their keys.
    """
    now = clock.now()
    ids = time_ordered_ids(len(readings), now)
    decided: list[tuple[uuid.UUID, Alarm]] = []
    if treatment_session is not None:
        decided = (watch or alarm_watch(db, treatment_session)).decide(
            list(zip(ids, readings, strict=True)))
    reading_tally.insert_tallied(db.connection(), {
        "id": ids, "taken_at": [r.taken for r in readings],
        **{name: [getattr(r, name) for r in readings] for name in VITAL_FIELDS},
    }, constants={
        "created_at": now, "updated_at": now, "created_by": actor.username,
        "session_pk": treatment_session.pk if treatment_session else None, "chair_pk": chair_pk,
        "source": source, "device": device, "message_pk": message_pk, "status": "final"},
        readings_by_session=[(treatment_session.pk, readings)] if treatment_session else [])
    raised: list[SessionAlarm] = []
    if decided and treatment_session is not None:
        keys = dict(db.execute(select(SessionReading.id, SessionReading.pk).where(
            SessionReading.id.in_({reading_id for reading_id, _ in decided}))).all())
        raised = store_alarms(db, treatment_session, [(keys[r], a) for r, a in decided], actor)
    return len(readings), raised


@dataclass
class AlarmWatch:
    """What decides a session's alarms, held while batches of its readings come in: its
    baseline blood pressure and the kinds of alarm already open. Deciding batch after batch on
    one watch gives the alarms that storing and re-reading the session between them would."""

    treatment_session: SessionKeys
    baseline: Reading | None
    open_kinds: set[str]
    limits: AlarmLimits

    def decide(self, new: list[tuple[Any, Reading]]) -> list[tuple[Any, Alarm]]:
        """The alarms these new readings raise (key, alarm); one open alarm per condition."""
        dose_start = self.treatment_session.dose_start
        candidates = [r for _, r in new if r.systolic_mmhg is not None and (
            dose_start is None or r.taken <= dose_start)]
        if candidates:
            latest = max(candidates, key=lambda r: r.taken)
            if self.baseline is None or latest.taken >= self.baseline.taken:
                self.baseline = latest
        baseline = self.baseline
        decided: list[tuple[Any, Alarm]] = []
        if not may_alarm([reading for _, reading in new], baseline, self.limits):
            return decided
        for key, reading in sorted(new, key=lambda pair: pair[1].taken):
            for alarm in new_alarms(alarms_for(reading, baseline, self.limits), self.open_kinds):
                decided.append((key, alarm))
                self.open_kinds.add(alarm.kind)
        return decided


# The baseline and the open alarms' kinds in one statement: one round trip for every batch.
_BASELINE_ROW = _BASELINE.subquery()
_ALARM_STATE: CompoundSelect = union_all(
    select(*_BASELINE_ROW.c, literal(None, String()).label("kind")),
    select(literal(None, SessionReading.taken_at.type),
           *(literal(None, getattr(SessionReading, k).type) for k in VITAL_FIELDS),
           SessionAlarm.kind).where(SessionAlarm.session_pk == bindparam("session_pk"),
                                    SessionAlarm.acknowledged_at.is_(None)))


def alarm_watch(db: Session, treatment_session: SessionKeys) -> AlarmWatch:
    """The session's alarm state as stored now."""
    baseline, open_kinds = None, set()
    for *reading, kind in db.execute(_ALARM_STATE, {
            "session_pk": treatment_session.pk, "dose_start": treatment_session.dose_start}):
        if kind is None:
            baseline = Reading(*reading)
        else:
            open_kinds.add(kind)
    return AlarmWatch(treatment_session, baseline, open_kinds, clinic_limits(db).alarms)


def alarm_watches(db: Session, sessions: Sequence[TreatmentSession]) -> dict[int, AlarmWatch]:
    """The alarm state of several sessions as stored now (as `alarm_watch` gives it), read with
    a few queries for them all: each session's baseline is found through the index on
    (session, time), from its dose start backwards."""
    if not sessions:
        return {}
    pks = [s.pk for s in sessions]
    open_kinds: dict[int, set[str]] = {pk: set() for pk in pks}
    for session_pk, kind in db.execute(select(SessionAlarm.session_pk, SessionAlarm.kind).where(
            SessionAlarm.session_pk.in_(pks), SessionAlarm.acknowledged_at.is_(None))):
        open_kinds[session_pk].add(kind)
    baseline_pks: dict[int, int | None] = dict(db.execute(select(
        TreatmentSession.pk, _BASELINE_KEY).where(TreatmentSession.pk.in_(pks))).all())
    wanted = [pk for pk in baseline_pks.values() if pk is not None]
    readings = {row.pk: as_reading(row) for row in db.execute(select(SessionReading).where(
        SessionReading.pk.in_(wanted))).scalars()} if wanted else {}
    limits = clinic_limits(db).alarms
    return {s.pk: AlarmWatch(s, readings.get(baseline_pks.get(s.pk) or 0), open_kinds[s.pk],
                             limits)
            for s in sessions}


def _decide_alarms(db: Session, treatment_session: TreatmentSession,
                   new: list[tuple[Any, Reading]]) -> list[tuple[Any, Alarm]]:
    """The alarms new readings raise (key, alarm); one open alarm per condition."""
    return alarm_watch(db, treatment_session).decide(new)


def store_alarms(db: Session, treatment_session: SessionKeys, alarms: list[tuple[int, Alarm]],
                  actor: Actor) -> list[SessionAlarm]:
    now = clock.now()
    raised = [SessionAlarm(session_pk=treatment_session.pk, reading_pk=pk, kind=a.kind, value=a.value,
                           message=a.message, source=a.source, raised_at=now,
                           created_by=actor.username) for pk, a in alarms]
    db.add_all(raised)
    db.flush()
    return raised


def _raise_alarms(db: Session, treatment_session: TreatmentSession, pairs: list[tuple[int, Reading]],
                  actor: Actor) -> list[SessionAlarm]:
    """Alarms for readings already stored (reading pk, reading)."""
    return store_alarms(db, treatment_session, _decide_alarms(db, treatment_session, pairs), actor)


# The rule-set parameter bounding, before check-in, the readings offered to a session.
BEFORE_CHECK_IN_PARAMETER = "unmatched_readings_before_check_in_min"


@dataclass(frozen=True)
class UnmatchedOffer:
    """The readings the session's chair's monitor sent with no session open that a nurse may
    attach to this session: those taken since `since` (`reason` says why then), how many, and
    when the first and last were taken."""

    since: datetime
    reason: str
    count: int
    first: datetime | None
    last: datetime | None


# The chair's last discharge, for a statement over its open session: read from the end of the
# index on (chair, discharge), so it costs the same however many sessions the chair has held.
def last_discharge_at(chair_pk: Any, outer: Any) -> Any:
    """The last discharge at the chair `chair_pk` (a column of `outer`) names, as a scalar
    subquery of a statement over `outer`."""
    previous = aliased(TreatmentSession)
    return (select(func.max(previous.discharged_at)).where(previous.chair_pk == chair_pk)
            .correlate(outer).scalar_subquery())


LAST_DISCHARGE = last_discharge_at(TreatmentSession.chair_pk, TreatmentSession)


def open_sessions_at(db: Session, chair_pks: Iterable[int]
                     ) -> dict[int, tuple[TreatmentSession, datetime | None]]:
    """The open session at each of these chairs that has one, with the chair's last discharge
    (before it: a chair holds one open session at a time); one statement."""
    return {session.chair_pk: (session, previous_end) for session, previous_end in db.execute(
        select(TreatmentSession, LAST_DISCHARGE).where(
            TreatmentSession.chair_pk.in_(set(chair_pks)), TreatmentSession.status == OPEN)
        .order_by(TreatmentSession.pk.desc()))}


def monitor_readings_since(db: Session,
                           sessions: Sequence[tuple[TreatmentSession, datetime | None]]
                           ) -> dict[int, tuple[datetime, str]]:
    """For each open session, given its chair's last discharge, the earliest a reading its
    chair's monitor sent may be taken and still be its patient's, and why: the clinic's window
    before check-in, or that discharge if later (what the monitor sent before then was that
    patient's, or no one's known)."""
    return _readings_since(sessions, clinic_rules.current_ruleset(db=db)) if sessions else {}


def _readings_since(sessions: Sequence[tuple[TreatmentSession, datetime | None]],
                    ruleset: RuleSet) -> dict[int, tuple[datetime, str]]:
    """`monitor_readings_since` on a rule set already read."""
    minutes = ruleset.value(BEFORE_CHECK_IN_PARAMETER)
    window = f"{minutes:g} min before check-in ({ruleset.source(BEFORE_CHECK_IN_PARAMETER)})"
    found = {}
    for session, ended in sessions:
        since = session.checked_in_at - timedelta(minutes=minutes)
        found[session.pk] = ((ended, "the discharge of the chair's previous session: what the "
                                     "monitor sent before then was that patient's")
                             if ended is not None and ended > since else (since, window))
    return found


def _offered_since(db: Session, treatment_session: TreatmentSession,
                   ruleset: RuleSet) -> tuple[datetime, str]:
    """`monitor_readings_since` for one open session, on the clinic's rule set."""
    ended = db.execute(select(LAST_DISCHARGE).where(
        TreatmentSession.pk == treatment_session.pk)).scalar_one()
    return _readings_since([(treatment_session, ended)], ruleset)[treatment_session.pk]


def _unmatched_since(treatment_session: TreatmentSession, since: datetime) -> list[Any]:
    return [SessionReading.chair_pk == treatment_session.chair_pk,
            SessionReading.session_pk.is_(None), SessionReading.taken_at >= since]


def unmatched_offer(db: Session, treatment_session: TreatmentSession,
                    ruleset: RuleSet) -> UnmatchedOffer:
    """The chair's readings with no session that may be this session's (on the clinic's rule
    set, the window before check-in), counted in the database (a monitor left on sends
    thousands)."""
    since, reason = _offered_since(db, treatment_session, ruleset)
    count, first, last = db.execute(
        select(func.count(), func.min(SessionReading.taken_at), func.max(SessionReading.taken_at))
        .where(*_unmatched_since(treatment_session, since))).one()
    return UnmatchedOffer(since, reason, int(count), first, last)


def attach_unmatched(*, db: Session, treatment_session_id: str,
                     actor: Actor) -> tuple[int, list[SessionAlarm]]:
    """A nurse attaches the readings `unmatched_offer` offers to this session; alarms follow.
    Older readings stay unmatched, for the review list."""
    treatment_session = get_treatment_session(db=db, treatment_session_id=treatment_session_id, actor=actor)
    _ensure_open(treatment_session)
    since, reason = _offered_since(db, treatment_session, clinic_rules.current_ruleset(db=db))
    rows, raised = _attach(db, treatment_session, _unmatched_since(treatment_session, since), actor)
    _mark_attached(db, {r.message_pk for r in rows if r.message_pk}, treatment_session, actor)
    audit.record(db=db, actor=actor, action="update", record_type="SessionReading",
                 record_id=treatment_session.id, patient_id=patient_id_of(db, treatment_session),
                 detail=f"attached {len(rows)} unmatched monitor readings taken since "
                        f"{since.isoformat(timespec='seconds')}, {reason}")
    return len(rows), raised


def attach_message_readings(*, db: Session, treatment_session: TreatmentSession, message_pk: int,
                            actor: Actor) -> tuple[int, list[SessionAlarm]]:
    """Put the readings one monitor message brought, kept with no session, on this session;
    the alarms they cause follow."""
    rows, raised = _attach(db, treatment_session, [SessionReading.message_pk == message_pk], actor)
    return len(rows), raised


def _attach(db: Session, treatment_session: TreatmentSession, which: list[Any], actor: Actor
            ) -> tuple[list[SessionReading], list[SessionAlarm]]:
    """Put the readings with no session that `which` selects on this session, in time order:
    its tally recounted from its rows (parts sum only added readings) and the alarms they
    cause raised."""
    rows = list(db.execute(select(SessionReading).where(SessionReading.session_pk.is_(None), *which)
                           .order_by(SessionReading.taken_at)).scalars())
    for row in rows:
        row.session_pk = treatment_session.pk
    db.flush()
    reading_tally.recount(db.connection(), [treatment_session.pk])
    return rows, _raise_alarms(db, treatment_session, [(r.pk, as_reading(r)) for r in rows], actor)


def _mark_attached(db: Session, message_pks: set[int], treatment_session: TreatmentSession,
                   actor: Actor) -> None:
    """The unmatched messages whose readings a nurse attached are resolved on the review list."""
    if not message_pks:
        return
    db.execute(update(MonitorMessage).where(
        MonitorMessage.pk.in_(message_pks), MonitorMessage.status == "unmatched").values(
        status="attached", attached_session_pk=treatment_session.pk, reviewed_at=clock.now(),
        reviewed_by=actor.username, review_note="attached with the chair's unmatched readings"))


def add_readings(*, db: Session, treatment_session_id: str, data: schemas.ReadingsIn,
                 actor: Actor) -> tuple[int, list[SessionAlarm]]:
    """A batch of readings for an open session (all or nothing), with the alarms raised."""
    rows, patient_id = _rows_in_reach(db, _SESSION_WITH_ALARM_STATE, treatment_session_id, actor,
                                      "session vitals", of_columns=True)
    treatment_session = chair_session(rows[0])
    if treatment_session.status != OPEN:
        raise Conflict("the session is closed; corrections are addenda")
    readings = _check(data.readings, treatment_session.checked_in_at - READINGS_BEFORE_CHECK_IN)
    stored, raised = store_readings(db=db, treatment_session=treatment_session,
                                    chair_pk=treatment_session.chair_pk, readings=readings,
                                    source="api", actor=actor,
                                    watch=_watch_of(treatment_session, rows[0]))
    audit.record(db=db, actor=actor, action="create", record_type="SessionReading",
                 record_id=treatment_session.id, patient_id=patient_id,
                 detail=f"{stored} readings, {len(raised)} alarms")
    return stored, raised


def patient_id_of(db: Session, treatment_session: TreatmentSession) -> uuid.UUID:
    """The public id of the session's patient."""
    return patients.id_of(db, treatment_session.patient_pk)


def alarms_of(*, db: Session, session_pk: int) -> Sequence[SessionAlarm]:
    """The session's alarms, newest first."""
    return db.execute(select(SessionAlarm).where(SessionAlarm.session_pk == session_pk)
                      .order_by(SessionAlarm.pk.desc())).scalars().all()


# A session's readings as `Reading`s take: the time, then each vital sign in field order.
_READINGS = (select(SessionReading.taken_at, *[getattr(SessionReading, f) for f in VITAL_FIELDS])
             .where(SessionReading.session_pk == bindparam("session_pk")))
_READINGS_OF = _READINGS.order_by(SessionReading.taken_at, SessionReading.pk)


def readings_of(*, db: Session, session_pk: int) -> list[Reading]:
    """The session's readings in time order, as the monitoring engine reads them: read as
    columns, not records, since a monitor sending one a second gives a session thousands."""
    return [Reading(*row) for row in db.execute(_READINGS_OF, {"session_pk": session_pk})]


_NEWEST_READINGS = (_READINGS.order_by(SessionReading.taken_at.desc(), SessionReading.pk.desc())
                    .limit(bindparam("count")))


def newest_readings(*, db: Session, session_pk: int, count: int) -> list[Reading]:
    """The session's newest `count` readings, in time order (as `readings_of` orders them)."""
    rows = db.execute(_NEWEST_READINGS, {"session_pk": session_pk, "count": count}).all()
    return [Reading(*row) for row in reversed(rows)]


def _newest_two_holding(field: str) -> Any:
    reading = SessionReading
    return (select(reading.pk, *_READINGS.selected_columns)
            .where(reading.session_pk == bindparam("session_pk"),
                   reading.taken_at >= bindparam("since", type_=UTCDateTime()),
                   getattr(reading, field).is_not(None))
            .order_by(reading.taken_at.desc(), reading.pk.desc()).limit(literal_column("2"))
            .subquery())


@cache
def _newest_two_of_each(signs: tuple[str, ...]) -> CompoundSelect:
    """SQL: each of these signs' newest two readings since a moment, read from the end of the
    index on (session, time): a sign a monitor sends every second is found at once, one it sends
    every few minutes a few hundred rows back."""
    return union_all(*(select(_newest_two_holding(field)) for field in signs))


def _tally_of(db: Session, session_pk: int) -> Any:
    """The session's reading tally (its parts summed), or None if it has no reading."""
    return db.execute(reading_tally.summed([session_pk])).first()


def _signs_held(tally: Any) -> tuple[str, ...]:
    """The watched signs some reading of the session holds, from its tally: a sign the monitor
    never sends (a respiratory rate, often) would have its search read every reading."""
    if tally is None:
        return ()
    return tuple(field for field in WATCHED_SIGNS if all(
        getattr(tally, name) for name, fields in reading_tally.TALLIED.items() if field in fields))


def newest_of_each_sign(db: Session, treatment_session: TreatmentSession,
                        tally: Any = None) -> list[Reading]:
    """Each watched sign's newest two readings in the session (a reading once, however many of
    the signs it holds), in time order, as `readings_of` orders them: what the discharge
    criteria read, and the newest value of each sign the chair-side page shows. `tally`: the
    session's (`_tally_of`), if the caller has read it."""
    signs = _signs_held(tally if tally is not None else _tally_of(db, treatment_session.pk))
    if not signs:
        return []
    rows = {row.pk: row for row in db.execute(_newest_two_of_each(signs), {
        "session_pk": treatment_session.pk,
        "since": treatment_session.checked_in_at - READINGS_BEFORE_CHECK_IN})}
    return [Reading(*row[1:]) for row in sorted(rows.values(), key=lambda r: (r.taken_at, r.pk))]


def _readings_in(tally: Any) -> int:
    """How many readings the session has, from its tally (a few parts however long the
    session)."""
    return int(tally.readings) if tally is not None else 0


def get_treatment_session(*, db: Session, treatment_session_id: str, actor: Actor) -> TreatmentSession:
    """A session the actor may reach (the read audited against its patient)."""
    return _session_in_reach(db, treatment_session_id, actor, "treatment session")[0]


# A session and its patient's reach in one query: every request about a session starts here.
_SESSION_IN_REACH = patients.with_reach(
    select(TreatmentSession).where(TreatmentSession.id == bindparam("public_id")),
    TreatmentSession.patient_pk)


def _session_in_reach(db: Session, treatment_session_id: str, actor: Actor, purpose: str
                      ) -> tuple[TreatmentSession, uuid.UUID]:
    rows, patient_id = _rows_in_reach(db, _SESSION_IN_REACH, treatment_session_id, actor, purpose)
    return rows[0][0], patient_id


def _rows_in_reach(db: Session, statement: Select[Any], treatment_session_id: str, actor: Actor,
                   purpose: str, of_columns: bool = False) -> tuple[Sequence[Any], uuid.UUID]:
    """The rows of a statement built on `_SESSION_IN_REACH` if its patient is in reach (the read
    audited), and the patient's id. A statement of columns (`of_columns`) runs from its kept
    plan (`kept_rows`): a monitor's gateway posts a batch a few seconds all session long."""
    params = {"public_id": public_id(treatment_session_id, "treatment session")}
    rows = kept_rows(db, statement, params) if of_columns else db.execute(statement, params).all()
    if not rows:
        raise NotFound("no such treatment session")
    patient_id = patients.open_through(db=db, rows=rows, actor=actor, purpose=purpose,
                                       asked_for=str(rows[0].id))
    return rows, patient_id


# A batch's session (as `ChairSession` reads it) with its alarm state, in one statement (a
# monitor's gateway posts batches all session long): the baseline reading joined by its key,
# and the kinds of alarm open, as one text. The session's columns are labelled apart from the
# patient's `pk` and `id`, which `with_reach` adds.
_BASELINE_READING = aliased(SessionReading)
_CHAIR_SESSION_COLUMNS = {"session_pk": TreatmentSession.pk, "session_id": TreatmentSession.id,
                          **{name: getattr(TreatmentSession, name) for name in (
                              "status", "chair_pk", "checked_in_at", "dose_start")}}
_SESSION_WITH_ALARM_STATE = (
    patients.with_reach(
        select(*(column.label(name) for name, column in _CHAIR_SESSION_COLUMNS.items()))
        .where(TreatmentSession.id == bindparam("public_id")),
        TreatmentSession.patient_pk)
    .add_columns(
        _BASELINE_READING.taken_at.label("baseline_taken_at"),
        *(getattr(_BASELINE_READING, k).label(f"baseline_{k}") for k in VITAL_FIELDS),
        # the separator as SQL text (typed as the text it stands for): a bound one is filled in
        # at each run, which a kept plan cannot do
        select(func.aggregate_strings(SessionAlarm.kind, cast(str, literal_column("','"))))
        .where(SessionAlarm.session_pk == TreatmentSession.pk,
               SessionAlarm.acknowledged_at.is_(None))
        .correlate(TreatmentSession).scalar_subquery().label("open_kinds"),
        # the clinic's rule set (its alarm limits), read with the session
        clinic_rules.OVERRIDES_IN_FORCE.label("rules"))
    .outerjoin(_BASELINE_READING, _BASELINE_READING.pk == _BASELINE_KEY))


def chair_session(row: Any) -> ChairSession:
    """The session a `_SESSION_WITH_ALARM_STATE` row holds."""
    return ChairSession(row.session_pk, row.session_id, row.status, row.chair_pk,
                        row.checked_in_at, row.dose_start)


def _watch_of(treatment_session: SessionKeys, row: Any) -> AlarmWatch:
    """The alarm state a `_SESSION_WITH_ALARM_STATE` row holds (as `alarm_watch` reads it),
    decided on the clinic's alarm limits it holds too."""
    baseline = (Reading(row.baseline_taken_at, *(getattr(row, f"baseline_{k}") for k in VITAL_FIELDS))
                if row.baseline_taken_at is not None else None)
    return AlarmWatch(treatment_session, baseline,
                      set(row.open_kinds.split(",")) if row.open_kinds else set(),
                      alarm_limits(clinic_rules.ruleset_of(row.rules)))


def open_record(*, db: Session, treatment_session_id: str, actor: Actor) -> TreatmentSession:
    """A session the actor may reach whose record is still open (refused once it is closed)."""
    treatment_session = get_treatment_session(db=db, treatment_session_id=treatment_session_id, actor=actor)
    _ensure_open(treatment_session)
    return treatment_session


def acknowledge_alarm(*, db: Session, treatment_session_id: str, alarm_id: str, note: str,
                      actor: Actor) -> SessionAlarm:
    """A nurse acknowledges an alarm with a note; a new reading may then raise it again."""
    treatment_session = get_treatment_session(db=db, treatment_session_id=treatment_session_id, actor=actor)
    alarm = by_public_id(db, SessionAlarm, alarm_id, "alarm")
    if alarm.session_pk != treatment_session.pk:
        raise NotFound("no such alarm")
    if alarm.acknowledged_at is not None:
        raise Conflict(f"already acknowledged by {alarm.acknowledged_by}")
    if len(note.strip()) < 3:
        raise invalid("note", "say what was done", "a short note")
    alarm.acknowledged_at = clock.now()
    alarm.acknowledged_by = actor.username
    alarm.acknowledgement_note = note.strip()[:1000]
    db.flush()
    audit.record(db=db, actor=actor, action="acknowledge", record_type="SessionAlarm",
                 record_id=alarm.id, patient_id=patient_id_of(db, treatment_session),
                 detail=f"{alarm.kind}: {alarm.acknowledgement_note}")
    return alarm


def status_of(*, db: Session, treatment_session: TreatmentSession,
              newest: int | None = None, judged: bool = True) -> dict[str, Any]:
    """What the chair-side page shows: readings, alarms, each watched sign's newest value, the
    next blood pressure due, and (`judged`) the pre-dose problem and the discharge gaps. With
    `newest`, only that many of the newest readings are read (however many the session has).
    The rest reads each watched sign's newest two readings (`newest_of_each_sign`), either way:
    the newest readings alone may hold no blood pressure, as a monitor sends oximetry every
    second. The page's live part, fetched at every reading, shows no judgement: unjudged, it
    reads neither the baseline, the MOAA/S score nor the clinic's rule set. Judged, the state
    holds the clinic's rules it was judged on (`rules`), for the rest of the page to use."""
    readings = (readings_of(db=db, session_pk=treatment_session.pk) if newest is None else
                newest_readings(db=db, session_pk=treatment_session.pk, count=max(newest, 1)))
    tally = _tally_of(db, treatment_session.pk)
    signs = newest_of_each_sign(db, treatment_session, tally)
    latest = newest_holding_each(signs)
    now = clock.now()
    due = None
    if treatment_session.dose_start is not None:
        pressure = latest.get("systolic_mmhg")
        due = next_reading_due(route=treatment_session.route, dose_start=treatment_session.dose_start,
                               dose_end=treatment_session.dose_end,
                               last_pressure=pressure.taken if pressure else None, now=now)
    state = {
        "readings": readings,
        "reading_count": _readings_in(tally),
        "latest": latest,
        "alarms": alarms_of(db=db, session_pk=treatment_session.pk),
        "next_reading_due": due,
    }
    return {**state, **_judgement(db, treatment_session, signs, now)} if judged else state


def _judgement(db: Session, treatment_session: TreatmentSession, signs: list[Reading],
               now: datetime) -> dict[str, Any]:
    """Whether dosing must wait for the baseline, and what discharge still needs (and when the
    observation ends, once dosing has)."""
    baseline = baseline_of(db, treatment_session)
    clinic = clinic_limits(db)
    missing = discharge_missing(route=treatment_session.route, dose_end=treatment_session.dose_end, now=now,
                                baseline=baseline, readings=signs,
                                moass=recovery_score(db, treatment_session),
                                escort_present=treatment_session.escort_present,
                                driving_warning_given=treatment_session.driving_warning_given,
                                rules=clinic)
    problem = pre_dose_problem(baseline, clinic.pressure)
    ends = (observation_ends(treatment_session.dose_end, clinic.observation(treatment_session.route))
            if treatment_session.dose_end else None)
    return {"rules": clinic, "pre_dose_problem": problem, "discharge_missing": missing,
            "observation_ends": ends,
            "pre_dose_overridden": bool(problem)
            and override_covers(treatment_session.pre_dose_override, baseline)}


def _ensure_open(treatment_session: TreatmentSession) -> None:
    if treatment_session.status != OPEN:
        raise Conflict("the record is closed; add an addendum instead")


def _pressure_words(judged: list[float] | None) -> str:
    return "not measured" if judged is None else pressure_text(*judged)


def _override(actor: Actor, reason: str) -> dict[str, str]:
    return {"reason": reason.strip(), "by": actor.username, "at": clock.now().isoformat()}


def override_checks(*, db: Session, treatment_session_id: str, reason: str, actor: Actor) -> TreatmentSession:
    """A prescriber lets dosing go ahead despite failed checks, with the reason; audited."""
    treatment_session = get_treatment_session(db=db, treatment_session_id=treatment_session_id, actor=actor)
    _ensure_open(treatment_session)
    treatment_session.checks_override = _override(actor, reason)
    db.flush()
    audit.record(db=db, actor=actor, action="override", record_type="TreatmentSession",
                 record_id=treatment_session.id, patient_id=patient_id_of(db, treatment_session),
                 detail=f"check-in checks: {reason}")
    return treatment_session


def override_pre_dose(*, db: Session, treatment_session_id: str, reason: str,
                      actor: Actor) -> TreatmentSession:
    """A prescriber lets dosing go ahead despite the baseline BP, with the reason; audited. The
    reason covers the pressure judged (kept with it) and any no higher, not one measured after
    it that is higher."""
    treatment_session = get_treatment_session(db=db, treatment_session_id=treatment_session_id, actor=actor)
    _ensure_open(treatment_session)
    judged = judged_pressure(baseline_of(db, treatment_session))
    treatment_session.pre_dose_override = {**_override(actor, reason), "judged_mmhg": judged}
    db.flush()
    shown = _pressure_words(judged)
    audit.record(db=db, actor=actor, action="override", record_type="TreatmentSession",
                 record_id=treatment_session.id, patient_id=patient_id_of(db, treatment_session),
                 detail=f"pre-dose blood pressure {shown}: {reason}")
    return treatment_session


@dataclass(frozen=True)
class DoseOrder:
    """A dose that passed every check at the chair, ready to be charted."""

    treatment_session: TreatmentSession
    course: Course
    planned: courses.ChairDose
    prescriber: str
    started: datetime
    mg_per_kg: float | None
    ruleset_version: str | None


def check_dose(*, db: Session, treatment_session_id: str, data: schemas.DoseStartIn,
               actor: Actor) -> DoseOrder:
    """Check a dose before it is given: refused while a check or the baseline BP blocks dosing,
    when the orderer is not a prescriber, or when the dose is out of range for today's weight."""
    treatment_session = get_treatment_session(db=db, treatment_session_id=treatment_session_id, actor=actor)
    _ensure_open(treatment_session)
    if treatment_session.dose_start is not None:
        raise Conflict("the dose has already been recorded")
    failed = checks.failed_checks(treatment_session)
    if failed and not treatment_session.checks_override:
        raise Conflict("dosing is blocked by check-in: " + "; ".join(checks.labels(failed)))
    baseline = baseline_of(db, treatment_session)
    rules = clinic_limits(db)
    problem = pre_dose_problem(baseline, rules.pressure)
    override = treatment_session.pre_dose_override
    if problem and not override_covers(override, baseline):
        beyond = "" if not override else (
            f" The reason {override['by']} recorded covers "
            f"{_pressure_words(override['judged_mmhg'])} only: a prescriber records a reason "
            "for this pressure.")
        raise Conflict(f"dosing is blocked: {problem}{beyond}")
    prescriber = db.execute(select(User).where(User.username == data.ordered_by.strip().lower(),
                                               User.role == "prescriber")).scalar_one_or_none()
    if prescriber is None:
        raise invalid("ordered_by", f"{data.ordered_by!r} is not a prescriber",
                      "the username of the ordering prescriber")
    started = _happened("started_at", data.started_at)
    for device_time in data.device_times:
        _happened("device_times", device_time)
    problems = _device_problems(treatment_session, data, started)
    if problems:
        raise InvalidInput(problems)
    course = courses.by_pk(db, treatment_session.course_pk)
    planned = courses.chair_dose(course, checks.weight_today(db, treatment_session),
                                 rules.ruleset)
    mg_per_kg = version = None
    if planned.weight_kg or treatment_session.route == "esketamine":
        try:
            checked = dosing.check_given(route=treatment_session.route, dose_mg=data.dose_mg,
                                         weight_kg=planned.weight_kg, indication=course.indication,
                                         override_reason=data.dose_override_reason,
                                         ruleset=rules.ruleset)
        except dosing.DoseRefused as exc:
            raise invalid(exc.field, exc.message, exc.accepted) from None
        mg_per_kg, version = checked.mg_per_kg, checked.ruleset_version
    return DoseOrder(treatment_session=treatment_session, course=course, planned=planned,
                     prescriber=prescriber.username, started=started, mg_per_kg=mg_per_kg,
                     ruleset_version=version)


def record_dose(*, db: Session, order: DoseOrder, data: schemas.DoseStartIn,
                actor: Actor) -> TreatmentSession:
    """Chart a checked dose as given; the course moves on from planned at its first dose."""
    treatment_session = order.treatment_session
    treatment_session.dose_start = order.started
    treatment_session.dose_given = GivenDose(
        dose_mg=data.dose_mg, route=treatment_session.route, lot_number=data.lot_number,
        mg_per_kg=order.mg_per_kg, planned_dose_mg=order.planned.dose_mg,
        ruleset_version=order.ruleset_version,
        device_times=tuple(t.isoformat() for t in data.device_times),
        override_reason=data.dose_override_reason)
    treatment_session.ordered_by = order.prescriber
    db.flush()
    patient_id = patient_id_of(db, treatment_session)
    courses.dose_given(db=db, course=order.course, actor=actor, patient_id=str(patient_id))
    audit.record(db=db, actor=actor, action="dose", record_type="TreatmentSession",
                 record_id=treatment_session.id, patient_id=patient_id,
                 detail=f"{data.dose_mg:g} mg lot {data.lot_number} ordered by {order.prescriber}")
    return treatment_session


def _device_problems(treatment_session: TreatmentSession, data: schemas.DoseStartIn,
                     started: datetime) -> list[FieldProblem]:
    if treatment_session.route != "esketamine":
        return []
    spacing = dosing.device_spacing_min(treatment_session.route)
    device_mg = dosing.device_mg(treatment_session.route)
    expected = int(data.dose_mg // device_mg)
    times = sorted(data.device_times or [started])
    problems = []
    if len(times) != expected:
        problems.append(FieldProblem("device_times", f"{len(times)} device times for "
                                     f"{data.dose_mg:g} mg", f"{expected} (one per {device_mg:g} mg device)"))
    for first, second in itertools.pairwise(times):
        if (second - first).total_seconds() < spacing * 60:
            problems.append(FieldProblem("device_times", f"devices at {first:%H:%M} and "
                                         f"{second:%H:%M} are less than {spacing:g} min apart",
                                         f"at least {spacing:g} min between devices"))
    return problems


def end_dose(*, db: Session, treatment_session_id: str, data: schemas.DoseEndIn,
             actor: Actor) -> TreatmentSession:
    """Record the end of dosing: the observation period starts."""
    treatment_session = get_treatment_session(db=db, treatment_session_id=treatment_session_id, actor=actor)
    _ensure_open(treatment_session)
    if treatment_session.dose_start is None:
        raise Conflict("no dose has been recorded yet")
    ended = _happened("ended_at", data.ended_at)
    if ended < treatment_session.dose_start:
        raise invalid("ended_at", "is before the dose started", "after the start of dosing")
    treatment_session.dose_end = ended
    db.flush()
    audit.record(db=db, actor=actor, action="update", record_type="TreatmentSession",
                 record_id=treatment_session.id, patient_id=patient_id_of(db, treatment_session),
                 detail="dosing ended")
    return treatment_session


def add_event(*, db: Session, treatment_session_id: str, data: schemas.EventIn, actor: Actor) -> SessionEvent:
    """Record a MOAA/S or CADSS score, a side effect or an intervention."""
    treatment_session = get_treatment_session(db=db, treatment_session_id=treatment_session_id, actor=actor)
    _ensure_open(treatment_session)
    if data.kind in ("moass", "cadss"):
        scale = session_events.scale(data.kind)
        if data.value is None or not scale.holds(data.value):
            raise invalid("value", f"{data.kind} score {data.value}",
                          f"a whole number from {scale.min} to {scale.max}")
    else:
        codes = session_events.event_codes().of(data.kind)
        if data.code not in codes:
            raise invalid("code", f"unknown {data.kind} {data.code!r}", ", ".join(codes))
    event = SessionEvent(session_pk=treatment_session.pk, kind=data.kind, code=data.code, value=data.value,
                         note=data.note, at=_happened("at", data.at), created_by=actor.username)
    db.add(event)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="SessionEvent",
                 record_id=event.id, patient_id=patient_id_of(db, treatment_session),
                 detail=f"{data.kind} {data.code}{'' if data.value is None else f' {data.value:g}'}")
    return event


def recovery_score(db: Session, treatment_session: TreatmentSession) -> int | None:
    """The newest MOAA/S since dosing ended: what discharge reads as how the patient has come
    out of sedation (a score from before the dose, or while it ran, does not say)."""
    if treatment_session.dose_end is None:
        return None
    value = db.execute(select(SessionEvent.value).where(
        SessionEvent.session_pk == treatment_session.pk, SessionEvent.kind == "moass",
        SessionEvent.at >= treatment_session.dose_end)
        .order_by(SessionEvent.at.desc(), SessionEvent.pk.desc()).limit(1)).scalar_one_or_none()
    return None if value is None else int(value)


@dataclass(frozen=True)
class DischargeReview:
    """A session whose discharge was asked for, with the criteria not met (overridden if any)."""

    treatment_session: TreatmentSession
    missing: tuple[Missing, ...]


def review_discharge(*, db: Session, treatment_session_id: str, data: schemas.DischargeIn, actor: Actor,
                     override_reason: str | None = None) -> DischargeReview:
    """Check the discharge criteria: refused while one is unmet, unless a prescriber overrides."""
    treatment_session = get_treatment_session(db=db, treatment_session_id=treatment_session_id, actor=actor)
    _ensure_open(treatment_session)
    clinic = clinic_limits(db)
    missing = discharge_missing(route=treatment_session.route, dose_end=treatment_session.dose_end,
                                now=clock.now(), baseline=baseline_of(db, treatment_session),
                                readings=newest_of_each_sign(db, treatment_session),
                                moass=recovery_score(db, treatment_session),
                                escort_present=data.escort_present,
                                driving_warning_given=data.driving_warning_given,
                                rules=clinic)
    if missing and not override_reason:
        raise InvalidInput([FieldProblem(m.criterion, m.message, "met before discharge")
                            for m in missing])
    return DischargeReview(treatment_session=treatment_session, missing=tuple(missing))


def record_discharge(*, db: Session, review: DischargeReview, data: schemas.DischargeIn,
                     actor: Actor, override_reason: str | None = None) -> TreatmentSession:
    """Discharge a reviewed session: the record closes."""
    treatment_session, missing = review.treatment_session, review.missing
    treatment_session.escort_present = data.escort_present
    treatment_session.driving_warning_given = data.driving_warning_given
    if override_reason:
        treatment_session.discharge_override = _override(actor, override_reason)
    treatment_session.status = DISCHARGED
    treatment_session.discharged_at = clock.now()
    db.flush()
    reading_tally.fold(db.connection(), treatment_session.pk)
    audit.record(db=db, actor=actor, action="discharge", record_type="TreatmentSession",
                 record_id=treatment_session.id, patient_id=patient_id_of(db, treatment_session),
                 detail=f"override: {override_reason}; missing: "
                        f"{', '.join(m.criterion for m in missing)}" if override_reason
                 else "all criteria met")
    return treatment_session


def add_addendum(*, db: Session, treatment_session_id: str, text: str, actor: Actor) -> SessionAddendum:
    """Add a correction to a closed record (the record itself is never edited)."""
    treatment_session = get_treatment_session(db=db, treatment_session_id=treatment_session_id, actor=actor)
    if treatment_session.status == OPEN:
        raise Conflict("the record is still open; record the change directly")
    addendum = SessionAddendum(session_pk=treatment_session.pk, text=text.strip(), created_by=actor.username)
    db.add(addendum)
    db.flush()
    audit.record(db=db, actor=actor, action="addendum", record_type="TreatmentSession",
                 record_id=treatment_session.id, patient_id=patient_id_of(db, treatment_session),
                 detail=text[:200])
    return addendum


def site_change_markers(db: Session, site_pks: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """For each site, what changes when its chairs in use change: a session opens, moves on
    (dosing, observing) or closes, or one of its alarms is raised or acknowledged."""
    sessions: dict[int, list[tuple[int, Any]]] = {pk: [] for pk in site_pks}
    for site_pk, session_pk, updated_at in db.execute(
            select(TreatmentSession.site_pk, TreatmentSession.pk, TreatmentSession.updated_at)
            .where(TreatmentSession.site_pk.in_(site_pks), TreatmentSession.status == OPEN)
            .order_by(TreatmentSession.pk)):
        sessions[site_pk].append((session_pk, updated_at))
    alarms = {pk: (last, acknowledged) for pk, last, acknowledged in db.execute(
        select(TreatmentSession.site_pk, func.max(SessionAlarm.pk),
               func.count(SessionAlarm.acknowledged_at))
        .join(TreatmentSession, TreatmentSession.pk == SessionAlarm.session_pk)
        .where(TreatmentSession.site_pk.in_(site_pks), TreatmentSession.status == OPEN)
        .group_by(TreatmentSession.site_pk))}
    return {pk: (tuple(sessions[pk]), *alarms.get(pk, (None, 0))) for pk in site_pks}


def active_treatment_sessions(db: Session, site_pk: int) -> list[dict[str, Any]]:
    """The open sessions at a site with their chair, patient and open alarms (for the dashboard)."""
    rows = db.execute(select(TreatmentSession, Chair, Patient)
                      .join(Chair, TreatmentSession.chair_pk == Chair.pk)
                      .join(Patient, TreatmentSession.patient_pk == Patient.pk)
                      .where(TreatmentSession.site_pk == site_pk, TreatmentSession.status == OPEN)
                      .order_by(Chair.name)).all()
    result = []
    for treatment_session, chair, patient in rows:
        open_alarms = db.execute(select(SessionAlarm).where(
            SessionAlarm.session_pk == treatment_session.pk, SessionAlarm.acknowledged_at.is_(None))
        ).scalars().all()
        state = ("observing" if treatment_session.dose_end else "dosing" if treatment_session.dose_start
                 else "checked in")
        result.append({"treatment_session": treatment_session, "chair": chair, "patient": patient,
                       "state": state, "alarms": open_alarms})
    return result


def chair_of(db: Session, treatment_session: TreatmentSession) -> Chair:
    """The chair a session is at."""
    return db.execute(select(Chair).where(Chair.pk == treatment_session.chair_pk)).scalar_one()


def events_of(db: Session, treatment_session: TreatmentSession) -> Sequence[SessionEvent]:
    """The session's scores, side effects and interventions in time order."""
    return db.execute(select(SessionEvent).where(SessionEvent.session_pk == treatment_session.pk)
                      .order_by(SessionEvent.at)).scalars().all()


def addenda_of(db: Session, treatment_session: TreatmentSession) -> Sequence[SessionAddendum]:
    """The corrections added to a closed record, oldest first."""
    return db.execute(select(SessionAddendum).where(SessionAddendum.session_pk == treatment_session.pk)
                      .order_by(SessionAddendum.pk)).scalars().all()


def prescribers(db: Session) -> Sequence[str]:
    """The usernames of the active prescribers (who may order a dose)."""
    return db.execute(select(User.username).where(User.role == "prescriber",
                                                  User.active.is_(True))
                      .order_by(User.username)).scalars().all()


def change_markers(db: Session, session_pks: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """For each session, what changes whenever a reading, an alarm (or its acknowledgement) or
    an event arrives: three grouped queries for all of them.

    Readings are counted from the session's tally, a few parts however long the session: the
    live pages ask every second. A session's readings are never removed or moved away, so the
    count changes exactly when one arrives or is attached (a fold of the tally changes
    nothing)."""
    readings = {row.session_pk: (row.readings,) for row in db.execute(
        reading_tally.summed(session_pks))}
    alarms = {pk: (last, acknowledged) for pk, last, acknowledged in db.execute(
        select(SessionAlarm.session_pk, func.max(SessionAlarm.pk),
               func.count(SessionAlarm.acknowledged_at))
        .where(SessionAlarm.session_pk.in_(session_pks)).group_by(SessionAlarm.session_pk))}
    events = dict(db.execute(select(SessionEvent.session_pk, func.max(SessionEvent.pk)).where(
        SessionEvent.session_pk.in_(session_pks)).group_by(SessionEvent.session_pk)).all())
    return {pk: (*readings.get(pk, (0,)), *alarms.get(pk, (None, 0)), events.get(pk))
            for pk in session_pks}
