"""Recording measures: score the form, keep every answer, raise the alerts the table calls for."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.clinics import rules as clinic_rules
from ketaclinic.clinics.models import Network, Site
from ketaclinic.courses import service as courses
from ketaclinic.db import insert_many
from ketaclinic.errors import Conflict, NotFound, invalid, public_id
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import alert_rules, crisis, instruments
from ketaclinic.knowledge import outcomes as outcome_rules
from ketaclinic.measures import schemas
from ketaclinic.measures.models import Measure, MeasureAlert, MeasureAnswer, MeasureRequest
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import ENTERED_IN_ERROR, Patient
from ketaclinic.patients.service import EARLIEST_BIRTH_DATE, FUTURE_TOLERANCE


def shows_crisis_contacts(rule: str) -> bool:
    """Whether an alert rule is about suicidality (the patient sees the crisis contacts)."""
    return alert_rules.is_crisis(rule)


def prescriber_of(db: Session, patient_pk: int) -> str | None:
    """The prescriber who signed the patient's current course (who alerts go to)."""
    course = courses.latest(db, patient_pk)
    return course.prescriber if course else None


def crisis_contacts(db: Session, site_pk: int | None = None) -> list[str]:
    """The crisis contacts the network has configured, or the national ones when it has none
    (a person at risk never sees an empty list)."""
    query = select(Network.crisis_contacts)
    if site_pk is not None:
        query = query.join(Site, Site.network_pk == Network.pk).where(Site.pk == site_pk)
    configured = db.execute(query.order_by(Network.pk).limit(1)).scalar_one_or_none()
    return list(configured or []) or crisis.fallback_contacts()


def _score(instrument: str, answers: list[Any]) -> instruments.Score:
    try:
        return instruments.score(instrument, answers)
    except instruments.AnswersRefused as exc:
        raise invalid(exc.field, exc.message, exc.accepted) from None


def record(*, db: Session, patient: Patient, instrument: str, answers: list[Any], source: str,
           actor: Actor, occasion: str = "ad-hoc", taken_at: datetime | None = None,
           request: MeasureRequest | None = None) -> tuple[Measure, list[MeasureAlert]]:
    """Score and store one form with its answers; raise and return the alerts it causes."""
    scored = _score(instrument, answers)
    now = clock.now()
    taken = taken_at or now
    if taken.tzinfo is None or taken > now + FUTURE_TOLERANCE:
        raise invalid("taken_at", "is in the future or has no time zone",
                      "now or earlier, ISO 8601 with offset")
    if taken.date() < max(patient.birth_date, EARLIEST_BIRTH_DATE):
        raise invalid("taken_at", "is before the patient was born",
                      f"{patient.birth_date.isoformat()} to now")
    if not patient.site_pks:
        raise invalid("patient", "has no site", "a patient registered at a site")
    course = courses.latest(db, patient.pk)
    site_pk = request.site_pk if request else sorted(patient.site_pks)[0]
    previous = db.execute(select(Measure.total).where(
        Measure.patient_pk == patient.pk, Measure.instrument == instrument,
        Measure.status == "final", Measure.taken_at <= taken)
        .order_by(Measure.taken_at.desc()).limit(1)).scalar_one_or_none()
    measure = Measure(patient_pk=patient.pk, site_pk=site_pk, course_pk=course.pk if course else None,
                      instrument=instrument, total=scored.total, band=scored.band,
                      risk_level=scored.risk_level, taken_at=taken, source=source,
                      occasion=occasion, request_pk=request.pk if request else None,
                      created_by=actor.username)
    db.add(measure)
    db.flush()
    form = instruments.instrument(instrument)
    codes = [item.code for item in form.items] or [form.total_code]
    insert_many(db.connection(), cast(Table, MeasureAnswer.__table__),
                [{"item_number": n, "system": c.system, "code": c.code, "value": v}
                 for n, (c, v) in enumerate(zip(codes, scored.answers, strict=True), start=1)],
                constants={"measure_pk": measure.pk})
    shown = scored.risk_level if scored.total is None else f"{scored.total} ({scored.band or '-'})"
    audit.record(db=db, actor=actor, action="create", record_type="Measure", record_id=measure.id,
                 patient_id=patient.id, detail=f"{form.name} {shown} via {source}")
    alerts = _raise_alerts(db, patient, measure, scored, previous, actor)
    return measure, alerts


def _raise_alerts(db: Session, patient: Patient, measure: Measure, scored: instruments.Score,
                  previous: int | None, actor: Actor) -> list[MeasureAlert]:
    ruleset = clinic_rules.current_ruleset(db=db)
    rules = alert_rules.alerts_for(scored, previous, ruleset)
    raised = []
    now = clock.now()
    for rule in rules:
        alert = MeasureAlert(patient_pk=patient.pk, site_pk=measure.site_pk, measure_pk=measure.pk,
                             rule=rule.name, severity=rule.severity, message=rule.message,
                             source=rule.source, prescriber=prescriber_of(db, patient.pk),
                             raised_at=now,
                             escalate_at=now + outcome_rules.escalates_after(ruleset, rule.severity),
                             created_by=actor.username)
        db.add(alert)
        db.flush()
        audit.record(db=db, actor=actor, action="alert", record_type="MeasureAlert",
                     record_id=alert.id, patient_id=patient.id,
                     detail=f"{alert.severity}: {alert.message} (to {alert.prescriber or 'site'})")
        raised.append(alert)
    return raised


def add_measure(*, db: Session, patient_id: str, data: schemas.MeasureIn,
                actor: Actor) -> tuple[Measure, list[MeasureAlert]]:
    """A measure from the API or a staff form: the patient's own, or staff on their behalf."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="measure")
    source = "portal" if actor.is_patient else "staff"
    form = instruments.instruments().get(data.instrument)
    if form is not None and actor.is_patient and form.rater == "clinician":
        raise invalid("instrument", f"{form.name} is rated by a clinician",
                      ", ".join(k for k, f in instruments.instruments().items()
                                if f.rater == "patient"))
    # A patient's own answers are stamped with the server's time: they are answered now.
    taken_at = None if actor.is_patient else data.taken_at
    return record(db=db, patient=patient, instrument=data.instrument, answers=data.answers,
                  source=source, actor=actor, occasion=data.occasion, taken_at=taken_at)


def measures_of(*, db: Session, patient_pk: int, instrument: str | None = None,
                include_errors: bool = False) -> Sequence[Measure]:
    """A patient's measures, oldest first (entered-in-error ones only when asked)."""
    query = select(Measure).where(Measure.patient_pk == patient_pk)
    if instrument:
        query = query.where(Measure.instrument == instrument)
    if not include_errors:
        query = query.where(Measure.status == "final")
    return db.execute(query.order_by(Measure.taken_at, Measure.pk)).scalars().all()


def answers_of(db: Session, measure_pks: list[int]) -> dict[int, list[int | None]]:
    """Each measure's item answers in item order."""
    found: dict[int, list[int | None]] = {pk: [] for pk in measure_pks}
    if not measure_pks:
        return found
    rows = db.execute(select(MeasureAnswer.measure_pk, MeasureAnswer.value).where(
        MeasureAnswer.measure_pk.in_(measure_pks)).order_by(MeasureAnswer.measure_pk,
                                                           MeasureAnswer.item_number))
    for pk, value in rows:
        found[pk].append(value)
    return found


def list_measures(*, db: Session, patient_id: str, actor: Actor,
                  instrument: str | None = None) -> list[schemas.MeasureOut]:
    """A patient's measures with their answers and the alerts each raised."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="measures")
    if instrument and instrument not in instruments.instruments():
        raise invalid("instrument", f"unknown instrument {instrument!r}",
                      ", ".join(instruments.instruments()))
    rows = measures_of(db=db, patient_pk=patient.pk, instrument=instrument)
    answers = answers_of(db, [m.pk for m in rows])
    alerts = alerts_by_measure(db, [m.pk for m in rows])
    return [schemas.measure_out(m, answers[m.pk], alerts.get(m.pk, [])) for m in rows]


def mark_entered_in_error(*, db: Session, patient_id: str, measure_id: str, reason: str,
                          actor: Actor) -> Measure:
    """Mark a measure entered-in-error with the reason (a wrong form, the wrong patient): the
    row stays, leaves trajectories and outcomes (its course's summary is recomputed in this
    transaction), and the correction is audited. Alerts it raised stay for a clinician to
    close with a note."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="correct measure")
    measure = db.execute(select(Measure).where(
        Measure.id == public_id(measure_id, "measure"), Measure.patient_pk == patient.pk)
    ).scalar_one_or_none()
    if measure is None:
        raise NotFound("no such measure of this patient")
    if measure.status == ENTERED_IN_ERROR:
        raise Conflict("this measure is already marked entered-in-error")
    measure.status = ENTERED_IN_ERROR
    measure.error_reason = reason
    measure.error_marked_by = actor.username
    measure.error_marked_at = clock.now()
    db.flush()
    audit.record(db=db, actor=actor, action="entered-in-error", record_type="Measure",
                 record_id=measure.id, patient_id=patient.id,
                 detail=f"{measure.instrument} {measure.total}: {reason}"[:1000])
    return measure


def alerts_by_measure(db: Session, measure_pks: list[int]) -> dict[int, list[MeasureAlert]]:
    """The alerts each measure raised."""
    found: dict[int, list[MeasureAlert]] = {}
    if measure_pks:
        for alert in db.execute(select(MeasureAlert).where(
                MeasureAlert.measure_pk.in_(measure_pks))).scalars():
            found.setdefault(alert.measure_pk, []).append(alert)
    return found

