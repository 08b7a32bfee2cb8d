"""Reviewing the monitor messages that did not land whole on a session: rejected ones (AE/AR,
nothing stored), unmatched ones (readings kept for the chair with no open session) and partial
ones (stored on the session with observations set aside: a probe that sends nonsense is seen).
A nurse attaches an unmatched message to the right open session, whose alarms then follow, or
marks a message reviewed with a note. Staff see the messages of their own sites; a message
routed to no site (no chair, and no known site in its location) is seen by clinical staff of
every site, since only they can tell which patient it was."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.db import by_public_id
from ketaclinic.errors import Conflict, NotFound, invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import OPEN, MonitorMessage, SessionReading, TreatmentSession
from ketaclinic.treatments.service import READINGS_BEFORE_CHECK_IN

STATUSES = ("rejected", "unmatched", "partial")  # what needs a look
LISTED = (*STATUSES, "attached")  # and what became of an unmatched one once attached
SHOWN = ("open", "reviewed", "all")


@dataclass(frozen=True)
class MessageRow:
    """One message on the review list, with where it was routed."""

    message: MonitorMessage
    site_code: str | None
    chair_name: str | None
    readings: int
    # an open unmatched message's chair's last discharge, when its readings were taken before
    # it: they were likely that patient's, not the next one's
    before_discharge: datetime | None = None


@dataclass(frozen=True)
class ReviewPage:
    """A page of the review list, newest first, and the cursor to the next one."""

    rows: list[MessageRow]
    total: int
    next_before: str | None
    newest: str | None = None  # the newest message of all it counts: what "review all" goes up to


@dataclass(frozen=True)
class ChairTrouble:
    """A kind of message a session's chair's monitor sent while it was open, not yet reviewed:
    how many, and the newest's time and reason."""

    status: str  # rejected (nothing stored, no alarm raised) or partial
    count: int
    newest_at: datetime
    newest_reason: str


def trouble_during(db: Session, treatment_session: TreatmentSession) -> list[ChairTrouble]:
    """The rejected and partial messages the session's chair sent while the session was open,
    not yet reviewed, rejected first: at the chair, a monitor, clock, probe or cable to check
    (read by the review list's index)."""
    during = [MonitorMessage.site_pk == treatment_session.site_pk,
              MonitorMessage.status.in_(("rejected", "partial")),
              MonitorMessage.received_at >= treatment_session.checked_in_at,
              MonitorMessage.chair_pk == treatment_session.chair_pk,
              MonitorMessage.reviewed_at.is_(None)]
    if treatment_session.discharged_at is not None:
        during.append(MonitorMessage.received_at <= treatment_session.discharged_at)
    counted = db.execute(select(MonitorMessage.status, func.count(), func.max(MonitorMessage.pk))
                         .where(*during).group_by(MonitorMessage.status)).all()
    if not counted:
        return []
    newest = {pk: (at, reason) for pk, at, reason in db.execute(
        select(MonitorMessage.pk, MonitorMessage.received_at, MonitorMessage.reason)
        .where(MonitorMessage.pk.in_([pk for _, _, pk in counted])))}
    return [ChairTrouble(status, int(count), *newest[pk])
            for status, count, pk in sorted(counted, key=lambda row: row[0] != "rejected")]


def _visible(actor: Actor) -> ColumnElement[bool]:
    return or_(MonitorMessage.site_pk.in_(actor.site_pks), MonitorMessage.site_pk.is_(None))


def _filters(db: Session, actor: Actor, *, site_code: str, status: str, shown: str,
             since: datetime | None, until: datetime | None, chair_id: str = ""
             ) -> list[ColumnElement[bool]]:
    """What the review list's filters select, refused with the accepted values when unknown."""
    if status and status not in LISTED:
        raise invalid("status", f"{status!r} is not a status under review", ", ".join(LISTED))
    if shown not in SHOWN:
        raise invalid("shown", f"{shown!r} is not accepted", ", ".join(SHOWN))
    filters = [_visible(actor), MonitorMessage.status.in_([status] if status else LISTED)]
    if site_code:
        site_pk = db.execute(select(Site.pk).where(Site.code == site_code)).scalar_one_or_none()
        if site_pk is None or site_pk not in actor.site_pks:
            raise invalid("site", f"{site_code!r} is not one of your sites",
                          ", ".join(_site_codes(db, actor)))
        filters.append(MonitorMessage.site_pk == site_pk)
    if chair_id:
        filters.append(MonitorMessage.chair_pk == _chair_pk(db, actor, chair_id))
    if shown != "all":
        filters.append(MonitorMessage.reviewed_at.is_(None) if shown == "open"
                       else MonitorMessage.reviewed_at.is_not(None))
    if since:
        filters.append(MonitorMessage.received_at >= since)
    if until:
        filters.append(MonitorMessage.received_at < until)
    return filters


def review_list(*, db: Session, actor: Actor, site_code: str = "", status: str = "",
                shown: str = "open", since: datetime | None = None,
                until: datetime | None = None, limit: int = 50,
                before: int | None = None, chair_id: str = "") -> ReviewPage:
    """Rejected, unmatched and partial messages of the actor's sites, filtered, newest first."""
    filters = _filters(db, actor, site_code=site_code, status=status, shown=shown, since=since,
                       until=until, chair_id=chair_id)
    total, newest = db.execute(select(func.count(), func.max(MonitorMessage.pk))
                               .where(*filters)).one()
    query = (select(MonitorMessage, Site.code, Chair.name)
             .outerjoin(Site, Site.pk == MonitorMessage.site_pk)
             .outerjoin(Chair, Chair.pk == MonitorMessage.chair_pk)
             .where(*filters).order_by(MonitorMessage.pk.desc()).limit(limit + 1))
    if before is not None:
        query = query.where(MonitorMessage.pk < before)
    found = db.execute(query).all()
    pks = [m.pk for m, _, _ in found[:limit]]
    readings = {pk: (count, first) for pk, count, first in db.execute(
        select(SessionReading.message_pk, func.count(), func.min(SessionReading.taken_at))
        .where(SessionReading.message_pk.in_(pks)).group_by(SessionReading.message_pk))
                } if pks else {}
    to_place = {m.chair_pk for m, _, _ in found[:limit]
                if m.status == "unmatched" and m.reviewed_at is None and m.chair_pk is not None}
    ended: dict[int | None, datetime | None] = {pk: at for pk, at in db.execute(
        select(Chair.pk, treatments.last_discharge_at(Chair.pk, Chair))
        .where(Chair.pk.in_(to_place)))} if to_place else {}
    rows = []
    for m, code, chair in found[:limit]:
        count, first = readings.get(m.pk, (0, None))
        discharged = ended.get(m.chair_pk)
        rows.append(MessageRow(m, code, chair, int(count), discharged if (
            m.chair_pk in to_place and discharged is not None and first is not None
            and first < discharged) else None))
    return ReviewPage(rows, int(total), str(found[limit - 1][0].pk)
                      if len(found) > limit else None, None if newest is None else str(newest))


def review_all(*, db: Session, actor: Actor, note: str, through: int, site_code: str = "",
               status: str = "", since: datetime | None = None,
               until: datetime | None = None, chair_id: str = "") -> int:
    """Close as reviewed, with one note, every message not yet reviewed that the list shows
    with these filters, up to the newest it showed (`through`: one that came in since is left
    for a look): the pile a monitor left on between sessions makes. The number closed."""
    if status == "attached":
        raise invalid("status", "attached messages were reviewed when attached",
                      ", ".join(STATUSES) + " or all of them")
    filters = _filters(db, actor, site_code=site_code, status=status, shown="open", since=since,
                       until=until, chair_id=chair_id)
    note = note.strip()
    # on the connection: the messages are not loaded, and a pile is thousands
    closed = db.connection().execute(update(MonitorMessage).where(
        *filters, MonitorMessage.status.in_(STATUSES), MonitorMessage.pk <= through).values(
        reviewed_at=clock.now(), reviewed_by=actor.username, review_note=note[:1000])).rowcount
    chosen = ", ".join(f"{name} {value}" for name, value in (
        ("site", site_code), ("chair", chair_id and _chair_name(db, chair_id)),
        ("kind", status or ", ".join(STATUSES)),
        ("received from", since and since.isoformat(timespec="minutes")),
        ("received before", until and until.isoformat(timespec="minutes"))) if value)
    audit.record(db=db, actor=actor, action="update", record_type="MonitorMessage",
                 detail=f"reviewed {closed} messages at once ({chosen}): {note}")
    return int(closed)


def chairs_of(db: Session, actor: Actor) -> list[tuple[str, str, str]]:
    """The chairs of the actor's sites, as the list's chair filter offers them: (id, site code,
    name)."""
    return [(str(chair_id), code, name) for chair_id, code, name in db.execute(
        select(Chair.id, Site.code, Chair.name).join(Site, Site.pk == Chair.site_pk)
        .where(Chair.site_pk.in_(actor.site_pks)).order_by(Site.code, Chair.name))]


def _chair_pk(db: Session, actor: Actor, chair_id: str) -> int:
    try:
        chair_pk = db.execute(select(Chair.pk).where(
            Chair.id == uuid.UUID(chair_id), Chair.site_pk.in_(actor.site_pks))).scalar_one_or_none()
    except ValueError:
        chair_pk = None
    if chair_pk is None:
        raise invalid("chair", f"{chair_id!r} is not a chair of your sites",
                      "the id of a chair of your sites")
    return chair_pk


def _chair_name(db: Session, chair_id: str) -> str:
    return db.execute(select(Chair.name).where(Chair.id == uuid.UUID(chair_id))).scalar_one()


def _site_codes(db: Session, actor: Actor) -> list[str]:
    return list(db.execute(select(Site.code).where(Site.pk.in_(actor.site_pks))
                           .order_by(Site.code)).scalars())


def message_of(db: Session, actor: Actor, message_id: str) -> MonitorMessage:
    """A message the actor may review (NotFound for another site's)."""
    message = by_public_id(db, MonitorMessage, message_id, "monitor message")
    if message.site_pk is not None and message.site_pk not in actor.site_pks:
        raise NotFound("no such monitor message")
    return message


@dataclass(frozen=True)
class AttachChoice:
    """An open session an unmatched message could belong to, as a nurse recognises it."""

    session_id: str
    chair: str
    patient: str
    checked_in_at: datetime


def sessions_to_attach(db: Session, message: MonitorMessage) -> list[AttachChoice]:
    """The open sessions an unmatched message may go to: those of its site, its chair's first."""
    if message.site_pk is None:
        return []
    found = db.execute(select(TreatmentSession.id, Chair.name, Patient.given_name,
                              Patient.family_name, TreatmentSession.checked_in_at)
                       .join(Chair, Chair.pk == TreatmentSession.chair_pk)
                       .join(Patient, Patient.pk == TreatmentSession.patient_pk)
                       .where(TreatmentSession.site_pk == message.site_pk,
                              TreatmentSession.status == OPEN)
                       .order_by((TreatmentSession.chair_pk == message.chair_pk).desc(),
                                 TreatmentSession.checked_in_at)).all()
    return [AttachChoice(str(sid), chair, f"{given} {family}", at)
            for sid, chair, given, family, at in found]


def attach(*, db: Session, actor: Actor, message_id: str,
           treatment_session_id: str) -> tuple[MonitorMessage, int, int]:
    """Put an unmatched message's readings on an open session of its site; its alarms follow.
    Returns the message, the readings moved and the alarms raised."""
    message = message_of(db, actor, message_id)
    if message.status != "unmatched" or message.reviewed_at is not None:
        raise Conflict("only an unmatched message not yet reviewed can be attached "
                       f"(this one is {message.status}"
                       f"{', reviewed' if message.reviewed_at else ''})")
    session = treatments.get_treatment_session(db=db, treatment_session_id=treatment_session_id,
                                               actor=actor)
    if session.status != OPEN:
        raise invalid("treatment_session_id", "the session is closed", "an open session")
    if session.site_pk != message.site_pk:
        raise invalid("treatment_session_id", "the session is at another site than the message",
                      "an open session of the message's site")
    earliest = db.execute(select(func.min(SessionReading.taken_at)).where(
        SessionReading.message_pk == message.pk)).scalar_one()
    if earliest is not None and earliest < session.checked_in_at - READINGS_BEFORE_CHECK_IN:
        raise invalid("treatment_session_id",
                      f"the message's readings were taken {earliest.isoformat(timespec='minutes')}"
                      ", more than a day before the session's check-in",
                      "an open session checked in within a day of the readings")
    moved, raised = treatments.attach_message_readings(db=db, treatment_session=session,
                                                       message_pk=message.pk, actor=actor)
    message.status, message.attached_session_pk = "attached", session.pk
    _close(message, actor, f"attached to the session at chair {session.chair_pk}")
    db.flush()
    audit.record(db=db, actor=actor, action="update", record_type="MonitorMessage",
                 record_id=message.id, patient_id=treatments.patient_id_of(db, session),
                 detail=f"attached {message.control_id}: {moved} readings, {len(raised)} alarms")
    return message, moved, len(raised)


def mark_reviewed(*, db: Session, actor: Actor, message_id: str, note: str) -> MonitorMessage:
    """Close a message as looked at, with what was done about it."""
    message = message_of(db, actor, message_id)
    if message.status not in STATUSES:
        raise Conflict(f"a {message.status} message needs no review")
    if message.reviewed_at is not None:
        raise Conflict(f"already reviewed by {message.reviewed_by}")
    _close(message, actor, note.strip())
    db.flush()
    audit.record(db=db, actor=actor, action="update", record_type="MonitorMessage",
                 record_id=message.id, detail=f"reviewed {message.control_id or '(no id)'}: "
                                              f"{message.review_note}")
    return message


def _close(message: MonitorMessage, actor: Actor, note: str) -> None:
    message.reviewed_at, message.reviewed_by = clock.now(), actor.username
    message.review_note = note[:1000]
