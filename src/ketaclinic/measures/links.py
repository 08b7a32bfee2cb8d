"""Personal questionnaire links: single use, expiring, no login; sent by email when configured."""

import hashlib
import secrets
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic import mail as email
from ketaclinic.audit import service as audit
from ketaclinic.courses import service as courses
from ketaclinic.courses.models import Course
from ketaclinic.errors import Conflict, FieldProblem, InvalidInput, NotFound, invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import instruments
from ketaclinic.knowledge.outcomes import link_valid_for, occasion_instruments
from ketaclinic.measures import schemas, service
from ketaclinic.measures.models import Measure, MeasureAlert, MeasureRequest
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient
from ketaclinic.settings import get_settings


class LinkGone(Conflict):
    """The link was used already or has expired."""

    status = 410


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(*, db: Session, patient_id: str, data: schemas.LinkIn,
           actor: Actor) -> tuple[MeasureRequest, str]:
    """A new link for the patient (the course's instruments unless named); emailed if asked."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor,
                                    purpose="questionnaire link")
    course = courses.latest(db, patient.pk)
    chosen = data.instruments or occasion_instruments(course.indication if course else "depression")
    known = instruments.instruments()
    for index, key in enumerate(chosen):
        if key not in known or known[key].rater != "patient":
            raise invalid(f"instruments[{index}]", f"{key!r} is not a self-report instrument",
                          ", ".join(k for k, f in known.items() if f.rater == "patient"))
    if not patient.site_pks:
        raise invalid("patient", "has no site", "a patient registered at a site")
    if patient.deceased:
        raise Conflict("the patient is recorded as deceased: no questionnaire is sent")
    token = secrets.token_urlsafe(32)
    request = MeasureRequest(patient_pk=patient.pk, site_pk=sorted(patient.site_pks)[0],
                             course_pk=course.pk if course else None, instruments=list(chosen),
                             occasion=data.occasion, due_on=data.due_on,
                             token_sha256=_hash(token),
                             expires_at=clock.now() + link_valid_for(),
                             created_by=actor.username)
    db.add(request)
    db.flush()
    url = f"{get_settings().public_url}/q/{token}"
    if data.email:
        _send(patient, request, url)
    audit.record(db=db, actor=actor, action="create", record_type="MeasureRequest",
                 record_id=request.id, patient_id=patient.id,
                 detail=f"{', '.join(chosen)} ({data.occasion}); "
                        + (f"emailed to {request.sent_to}" if request.sent_at else
                           f"not emailed: {request.send_error or 'not asked'}"))
    return request, url


def _send(patient: Patient, request: MeasureRequest, url: str) -> None:
    if not patient.email:
        request.send_error = "the patient has no email address on record"
        return
    names = ", ".join(instruments.instrument(k).name for k in request.instruments)
    body = (f"Hello {patient.given_name},\n\nBefore your next visit, please answer a few short "
            f"questions about how you have been ({names}). It takes about 5 minutes and works on "
            f"a phone:\n\n{url}\n\nThe link works once and until "
            f"{request.expires_at:%Y-%m-%d %H:%M} UTC. If you are in crisis, do not wait for "
            "this form: call your local emergency number.\n")
    try:
        email.sender().send(email.Email(patient.email, "Your questionnaire before your visit", body))
    except email.EmailNotSent as exc:
        request.send_error = str(exc)[:500]
        return
    request.sent_to = patient.email
    request.sent_at = clock.now()


def by_token(*, db: Session, token: str) -> MeasureRequest:
    """The request behind a link; NotFound for an unknown token, LinkGone if used, expired or
    its patient is recorded as deceased."""
    request = db.execute(select(MeasureRequest).where(
        MeasureRequest.token_sha256 == _hash(token))).scalar_one_or_none()
    if request is None:
        raise NotFound("This link is not valid. Ask the clinic for a new one.")
    _usable(db, request)
    return request


def _usable(db: Session, request: MeasureRequest) -> None:
    if request.used_at is not None:
        raise LinkGone("This link has already been used. Thank you: your answers were received.")
    if request.expires_at <= clock.now():
        raise LinkGone("This link has expired. Ask the clinic for a new one.")
    # A link sent before a death is recorded: no questionnaire is taken in the patient's name.
    if db.execute(select(Patient.deceased).where(Patient.pk == request.patient_pk)).scalar_one():
        raise LinkGone("This questionnaire is no longer needed. If you have any questions, "
                       "please contact the clinic.")


def pending_for(db: Session, patient_pk: int) -> list[MeasureRequest]:
    """A patient's unused, unexpired links (the portal lists them)."""
    rows = db.execute(select(MeasureRequest).where(
        MeasureRequest.patient_pk == patient_pk, MeasureRequest.used_at.is_(None),
        MeasureRequest.expires_at > clock.now()).order_by(MeasureRequest.created_at)).scalars().all()
    return list(rows)


def portal_request(*, db: Session, request_id: str, actor: Actor) -> MeasureRequest:
    """A logged-in patient's own pending request by id."""
    pending = pending_for(db, actor.patient_pk or -1)
    found = next((r for r in pending if str(r.id) == request_id), None)
    if found is None:
        raise NotFound("no such questionnaire (it may have been answered or expired)")
    return found


def link_actor(request: MeasureRequest, client: str) -> Actor:
    """Who answered through a personal link: the patient, recorded as such."""
    return Actor(username=f"patient-link:{str(request.id)[:8]}", role="patient",
                 patient_pk=request.patient_pk, client=client)


def submit(*, db: Session, request: MeasureRequest, answers: dict[str, list[int | None]],
           actor: Actor, source: str) -> tuple[list[Measure], list[MeasureAlert]]:
    """Store every form of the request at once (all or nothing) and use the link up."""
    _usable(db, request)
    patient = db.execute(select(Patient).where(Patient.pk == request.patient_pk)).scalar_one()
    measures, alerts = [], []
    for key in request.instruments:
        try:
            measure, raised = service.record(db=db, patient=patient, instrument=key,
                                             answers=answers.get(key, []), source=source,
                                             actor=actor, occasion=request.occasion,
                                             request=request)
        except InvalidInput as exc:
            name = instruments.instrument(key).name
            raise InvalidInput([FieldProblem(f"{key}.{p.field}", f"{name}: {p.message}", p.accepted)
                                for p in exc.problems]) from None
        measures.append(measure)
        alerts += raised
    request.used_at = clock.now()
    db.flush()
    audit.record(db=db, actor=actor, action="submit", record_type="MeasureRequest",
                 record_id=request.id, patient_id=patient.id,
                 detail=f"{len(measures)} forms, {len(alerts)} alerts")
    return measures, alerts


def send_due(*, db: Session, day: date, actor: Actor) -> list[MeasureRequest]:
    """Links for every current course of a living patient with an occasion on `day` (baseline
    at the first session, before each planned session, the day after the last induction
    session) that has none yet."""
    planned = db.execute(select(Course).join(Patient, Patient.pk == Course.patient_pk).where(
        Course.plan_source.is_not(None), Patient.deceased.is_(False))).scalars().all()
    created = []
    for course in planned:
        occasion = courses.occasion_on(course, day)
        if occasion is None or courses.latest(db, course.patient_pk) is not course:
            continue
        already = db.execute(select(MeasureRequest.pk).where(
            MeasureRequest.course_pk == course.pk, MeasureRequest.due_on == day)).first()
        if already:
            continue
        patient_id = db.execute(select(Patient.id).where(Patient.pk == course.patient_pk)
                                ).scalar_one()
        request, _ = create(db=db, patient_id=str(patient_id), actor=actor,
                            data=schemas.LinkIn(occasion=occasion, due_on=day))
        created.append(request)
    return created
