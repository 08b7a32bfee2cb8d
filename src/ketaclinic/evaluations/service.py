"""Evaluation use cases: screen a stored patient, sign the decision, record consent, override rules."""

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.clinics.models import RuleOverride
from ketaclinic.clinics.rules import OVERRIDES_IN_FORCE, current_ruleset, in_force
from ketaclinic.courses import service as courses
from ketaclinic.courses.models import Course
from ketaclinic.errors import Conflict, FieldProblem, InvalidInput, NotFound, invalid
from ketaclinic.evaluations import schemas
from ketaclinic.evaluations.models import Consent, Evaluation
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import consent as consent_texts
from ketaclinic.knowledge import courses as course_rules
from ketaclinic.knowledge import dosing
from ketaclinic.knowledge.ruleset import RuleSet, default_ruleset
from ketaclinic.knowledge.screening import ROUTES, CannotScreen, latest_within, screen
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import ENTERED_IN_ERROR, Patient
from ketaclinic.patients.record import screening_record

MIN_REASON = 3


def parameters(*, db: Session) -> list[schemas.OverrideOut]:
    """Every rule parameter: default, value in force and source, and a stored value outside the
    accepted range that is set aside."""
    applied, aside = in_force(db.execute(select(OVERRIDES_IN_FORCE)).scalar_one())
    ruleset = default_ruleset().with_overrides(applied)
    return [schemas.OverrideOut(
        parameter=name, default=p.default, value=ruleset.value(name), source=ruleset.source(name),
        overridden=name in ruleset.overrides, accepted=p.accepted,
        set_aside=None if name not in aside else
        f"{aside[name]}: the default is in force until a value that fits is set")
        for name, p in ruleset.parameters.items()]


def set_override(*, db: Session, data: schemas.OverrideIn, actor: Actor) -> RuleOverride:
    """Record a clinic's value for a parameter (or a return to the default); audited."""
    known = default_ruleset().parameters
    if data.parameter not in known:
        raise invalid("parameter", f"unknown parameter {data.parameter!r}", ", ".join(known))
    refusal = current_ruleset(db=db).refusal(data.parameter, data.value)
    if refusal is not None:
        raise invalid("value", refusal.reason, refusal.accepted)
    row = RuleOverride(parameter=data.parameter, value=data.value, reason=data.reason,
                       created_by=actor.username)
    db.add(row)
    db.flush()
    shown = "default" if data.value is None else f"{data.value:g}"
    audit.record(db=db, actor=actor, action="rule-override", record_type="RuleOverride",
                 record_id=row.id, detail=f"{data.parameter}={shown}: {data.reason}")
    return row


def _indication_ok(route: str, indication: str) -> None:
    accepted = dosing.indications(route)
    if indication not in accepted:
        raise invalid("indication", f"{indication!r} is not treated by {route}", ", ".join(accepted))


def evaluate(*, db: Session, patient_id: str, data: schemas.EvaluationIn,
             actor: Actor) -> Evaluation:
    """Screen the stored patient's chart and keep the result with the rule set it used."""
    if data.route not in ROUTES:
        raise invalid("route", f"unknown route {data.route!r}", ", ".join(ROUTES))
    _indication_ok(data.route, data.indication)
    patient = patients.chart(db=db, patient_id=patient_id, actor=actor)
    ruleset = current_ruleset(db=db)
    on = data.on or patients.local_today(patient)
    try:
        result = screen(screening_record(patient), route=data.route, on=on, ruleset=ruleset,
                        time_zone=patients.time_zone_of(patient))
    except CannotScreen as exc:  # a deceased patient: an error, not a decision
        raise Conflict(str(exc)) from None
    evaluation = Evaluation(
        patient_pk=patient.pk, route=data.route, indication=data.indication, screened_on=on,
        decision=result.decision, ruleset_version=result.ruleset_version,
        overrides=dict(result.overrides), findings=[f.as_dict() for f in result.findings],
        created_by=actor.username)
    db.add(evaluation)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="Evaluation",
                 record_id=evaluation.id, patient_id=patient.id,
                 detail=f"{data.route}/{data.indication}: {result.decision} "
                        f"(rule set {result.ruleset_version})")
    return evaluation


def list_for(*, db: Session, patient_id: str, actor: Actor) -> Sequence[Evaluation]:
    """The patient's evaluations, newest first."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="list evaluations")
    return db.execute(select(Evaluation).where(Evaluation.patient_pk == patient.pk)
                      .order_by(Evaluation.pk.desc())).scalars().all()


def get(*, db: Session, patient_id: str, evaluation_id: str, actor: Actor) -> Evaluation:
    """One evaluation of the patient (the read audited)."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="evaluation")
    try:
        key = uuid.UUID(evaluation_id)
    except ValueError:
        raise NotFound("no such evaluation") from None
    found = db.execute(select(Evaluation).where(Evaluation.id == key,
                                                Evaluation.patient_pk == patient.pk)
                       ).scalar_one_or_none()
    if found is None:
        raise NotFound("no such evaluation")
    return found


def of_course(db: Session, course: Course) -> Evaluation:
    """The evaluation whose signing started a course."""
    return db.execute(select(Evaluation).where(Evaluation.pk == course.evaluation_pk)).scalar_one()


def findings_of(evaluation: Evaluation, severity: str) -> list[dict[str, Any]]:
    """The evaluation's findings of one severity."""
    return [f for f in evaluation.findings if f["severity"] == severity]


def sign(*, db: Session, patient_id: str, evaluation_id: str, data: schemas.SignIn,
         actor: Actor) -> Evaluation:
    """Sign a decision. Never through a contraindication; every caution needs its reason."""
    evaluation = get(db=db, patient_id=patient_id, evaluation_id=evaluation_id, actor=actor)
    if evaluation.status != "screened":
        raise Conflict(f"this evaluation is already {evaluation.status}")
    reasons = {rule: text.strip() for rule, text in data.caution_reasons.items() if text.strip()}
    dose: dosing.Dose | None = None
    plan: course_rules.CoursePlan | None = None
    if data.decision == "do-not-start":
        if len(data.note.strip()) < MIN_REASON:
            raise invalid("note", "say why treatment should not start", "a short reason")
    else:
        blocking = findings_of(evaluation, "contraindication")
        if blocking:
            rules = ", ".join(sorted({f["rule"] for f in blocking}))
            raise Conflict(f"contraindication ({rules}) cannot be signed through: "
                           "the course cannot start")
        missing = [FieldProblem(f"caution_reasons.{f['rule']}", f"no benefit/risk reason for: "
                                f"{f['message']}", "a recorded reason")
                   for f in findings_of(evaluation, "caution")
                   if len(reasons.get(f["rule"], "")) < MIN_REASON]
        if missing:
            raise InvalidInput(missing)
        dose = _dose(db, evaluation, data, patient_id, actor)
        if data.plan_start:
            try:
                plan = course_rules.plan(
                    route=evaluation.route, start=data.plan_start, indication=evaluation.indication,
                    allow_consecutive=data.plan_allow_consecutive)
            except course_rules.PlanError as exc:
                raise invalid("plan_start", str(exc), "a date on which the course can start") from None
    evaluation.status = "signed"
    evaluation.signed_decision = data.decision
    evaluation.signed_by = actor.username
    evaluation.signed_at = clock.now()
    evaluation.caution_reasons = reasons
    evaluation.sign_note = data.note.strip()
    db.flush()
    override = dose.override_reason if dose else None
    audit.record(db=db, actor=actor, action="sign", record_type="Evaluation",
                 record_id=evaluation.id, patient_id=patient_id,
                 detail=f"{data.decision}; cautions accepted: {', '.join(sorted(reasons)) or 'none'}"
                        + (f"; dose override: {override}" if override else ""))
    if dose is not None:
        courses.start(db=db, evaluation_id=evaluation.id, evaluation_pk=evaluation.pk,
                      patient_pk=evaluation.patient_pk, route=evaluation.route,
                      indication=evaluation.indication, dose=dose, plan=plan, actor=actor,
                      patient_id=patient_id)
    return evaluation


def _dose(db: Session, evaluation: Evaluation, data: schemas.SignIn, patient_id: str,
          actor: Actor) -> dosing.Dose:
    weight = data.weight_kg
    ruleset = current_ruleset(db=db)
    if evaluation.route != "esketamine" and (weight is None or not data.weight_change_confirmed):
        patient = patients.chart(db=db, patient_id=patient_id, actor=actor)
        latest = latest_within(screening_record(patient).weights, evaluation.screened_on,
                               ruleset.value("weight_window_days"), patients.time_zone_of(patient))
        if weight is None:
            weight = latest.weight_kg if latest else None
        elif latest is not None:
            _check_typed_weight(weight, latest.weight_kg, ruleset)
    try:
        dose = dosing.calculate(route=evaluation.route, weight_kg=weight,
                                indication=evaluation.indication, mg_per_kg=data.mg_per_kg,
                                dose_mg=data.dose_mg, override_reason=data.dose_override_reason,
                                ruleset=ruleset)
    except dosing.DoseRefused as exc:
        raise invalid(exc.field, exc.message, exc.accepted) from None
    return dose


def _check_typed_weight(typed_kg: float, charted_kg: float, ruleset: RuleSet) -> None:
    """Refuse a weight typed for the dose too far from the latest charted one (a weight in
    pounds) unless the prescriber confirms it."""
    problem = dosing.weight_change_problem(charted_kg, typed_kg, "the latest weight charted",
                                           ruleset)
    if problem:
        raise invalid("weight_kg", f"{problem}; if it is right, confirm the change",
                      "a weight in kilograms, or weight_change_confirmed to dose by it")


def consent_text(version: str | None = None) -> tuple[str, str, str]:
    """(version, title, text) of the named or current consent text."""
    chosen = version or consent_texts.current_version()
    texts = consent_texts.versions()
    if chosen not in texts:
        raise invalid("consent_version", f"unknown consent text {chosen!r}", ", ".join(texts))
    return chosen, texts[chosen].title, texts[chosen].text


def record_consent(*, db: Session, patient_id: str, data: schemas.ConsentIn,
                   actor: Actor) -> Consent:
    """Record that the patient consented to this version of the consent text."""
    version, _, text = consent_text(data.consent_version)
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="consent")
    today = patients.local_today(patient)
    given_on = data.given_on or today
    if given_on > today:
        raise invalid("given_on", "is in the future", "today or earlier")
    consent = Consent(patient_pk=patient.pk, consent_version=version, given_on=given_on,
                      text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                      created_by=actor.username)
    db.add(consent)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="Consent", record_id=consent.id,
                 patient_id=patient.id, detail=version)
    return consent


def consents_for(*, db: Session, patient_id: str, actor: Actor) -> Sequence[Consent]:
    """The patient's consents, newest first (entered-in-error ones included)."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="list consents")
    return db.execute(select(Consent).where(Consent.patient_pk == patient.pk)
                      .order_by(Consent.pk.desc())).scalars().all()


def has_consent(consents: Sequence[Consent]) -> bool:
    """Whether any consent on record still stands."""
    return any(c.status != ENTERED_IN_ERROR for c in consents)


def consents_of(db: Session, patient: Patient) -> Sequence[Consent]:
    """A patient's consents, newest first (for the patient's own portal)."""
    return db.execute(select(Consent).where(Consent.patient_pk == patient.pk)
                      .order_by(Consent.given_on.desc())).scalars().all()
