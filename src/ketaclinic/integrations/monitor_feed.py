"""Bedside monitors' PCD-01 messages taken in, a group at a time: each kept as received, routed to
its chair by device or location, its readings stored on the chair's open treatment session (or
kept unmatched for the nurse to attach) with the alarms they raise.

A group is one transaction: its messages are parsed once each, the chairs, sites, open sessions
and earlier acknowledgements they need are read with one query each, every reading goes in with
one insert, and each session gets one audit event naming the messages. The caller commits, then
acknowledges every message; a message that fails validation is answered AE or AR and kept for
review without failing the others. A message some of whose observations cannot be read (a value
out of range, a unit not accepted) is taken with the rest, answered AA with a warning naming
those set aside, and keeps that note as a partial message, on the review list.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.array_inserts import insert_rows
from ketaclinic.audit import service as audit
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.integrations import pcd01
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.time_ordered_ids import time_ordered_ids
from ketaclinic.patients.models import Patient
from ketaclinic.patients.service import FUTURE_TOLERANCE
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import MonitorMessage, TreatmentSession, text_digest
from ketaclinic.treatments.reading_groups import ReadingBatch, store_batches

INBOX = cast(Table, MonitorMessage.__table__)
# The messages whose readings are stored: on a session (whole, or with observations set aside),
# or kept for the chair.
STORED = ("accepted", "partial", "unmatched")


@dataclass(frozen=True)
class Incoming:
    """One framed message as a connection received it."""

    raw: str
    peer: str


@dataclass(frozen=True)
class Answer:
    """What to acknowledge a message with: AA, or AE/AR and the reason."""

    code: str
    reason: str
    control_id: str
    # MSH-3 and MSH-4 as parsed, for the ACK's header (None: the message did not parse).
    sender: tuple[str, str] | None = None


class _Chair(NamedTuple):
    """What routing needs of a chair (read as columns: a group looks up hundreds)."""

    pk: int
    site_pk: int
    name: str


_CHAIR_COLUMNS = (Chair.pk, Chair.site_pk, Chair.name)


@dataclass
class _Taken:
    """One message on its way through the group."""

    incoming: Incoming
    digest: bytes = b""  # of its text (`text_digest`)
    status: str = "rejected"
    code: str = "AR"
    reason: str = ""
    control_id: str = ""
    message: pcd01.MonitorMessage | None = None
    partial: pcd01.MonitorMessage | None = None  # what a refused message said of its origin
    chair: _Chair | None = None
    site_pk: int | None = None  # the chair's, or else the site its location names
    session: TreatmentSession | None = None
    chair_last_discharge: datetime | None = None  # where its session's readings may begin
    actor: Actor = field(default_factory=lambda: Actor(username="monitor", role="system"))

    def refuse(self, exc: pcd01.MessageRejected) -> None:
        self.status, self.code, self.reason = "rejected", exc.code, exc.reason
        self.control_id = exc.control_id or self.control_id


def ingest(*, db: Session, raw: str, peer: str) -> tuple[str, str, str]:
    """One message as a group of one: (ack code, reason, control id)."""
    [answer] = ingest_group(db=db, messages=[Incoming(raw, peer)])
    return answer.code, answer.reason, answer.control_id


def ingest_group(*, db: Session, messages: Sequence[Incoming]) -> list[Answer]:
    """Keep every message and store what passes; returns each message's answer, in order. The
    caller commits, then acknowledges."""
    taken = [_parse(incoming) for incoming in messages]
    parsed = [t for t in taken if t.message is not None]
    # A message refused for its content is still kept at the site it came from, for review.
    _locate(db, [t for t in taken if (t.message or t.partial) is not None])
    _route(db, parsed)
    now = clock.now()
    for item in parsed:
        if item.status != "routed":
            continue
        assert item.message is not None
        too_late = [r for r in item.message.readings if r.taken > now + FUTURE_TOLERANCE]
        if too_late:
            item.refuse(pcd01.MessageRejected(
                "AE", f"OBX {too_late[0].obx}: the observation time is in the future"))
    _hold_back_earlier_readings(db, parsed)
    _drop_repeats(db, parsed)
    for item in parsed:
        if item.status == "routed":
            # a message stored with observations set aside waits for a look at why
            item.status = ("unmatched" if item.session is None
                           else "partial" if item.message and item.message.set_aside
                           else "accepted")
            item.code = "AA"
    message_pks = _keep(db, taken, now)
    _store_readings(db, taken, message_pks)
    return [Answer(t.code, t.reason, t.control_id, (t.message.sending_application,
                                                    t.message.sending_facility)
                   if t.message else None) for t in taken]


def _parse(incoming: Incoming) -> _Taken:
    item = _Taken(incoming, text_digest(incoming.raw), actor=Actor(
        username=f"monitor:{incoming.peer}"[:150], role="system", client=incoming.peer[:100]))
    try:
        item.message = pcd01.parse_oru(incoming.raw)
    except pcd01.MessageRejected as exc:
        item.refuse(exc)
        item.partial = exc.read
        return item
    item.control_id, item.status = item.message.control_id, "parsed"
    if item.message.set_aside:
        item.reason = "observations set aside: " + "; ".join(item.message.set_aside)
    return item


def _locate(db: Session, items: list[_Taken]) -> None:
    """Each message's chair (by device, else by its site^chair location) and site (the chair's,
    or else the one its location names)."""
    origins = [(item, item.message or item.partial) for item in items]
    devices = {d for _, origin in origins if origin for d in origin.devices}
    by_device = {device: _Chair(pk, site_pk, name) for device, pk, site_pk, name in db.execute(
        select(Chair.monitor_device_id, *_CHAIR_COLUMNS).where(
            Chair.monitor_device_id.in_(devices)))} if devices else {}
    places = {_place(origin) for _, origin in origins} - {("", "")}
    by_place: dict[tuple[str, str], _Chair] = {}
    site_of_code: dict[str, int] = {}
    if places:
        site_of_code = dict(db.execute(select(Site.code, Site.pk).where(
            Site.code.in_({p[0] for p in places}))).all())
        for code, pk, site_pk, name in db.execute(select(Site.code, *_CHAIR_COLUMNS).join(
                Site).where(Site.code.in_({p[0] for p in places}),
                            Chair.name.in_({p[1] for p in places}))):
            by_place[(code, name)] = _Chair(pk, site_pk, name)
    for item, origin in origins:
        assert origin is not None
        item.chair = next((by_device[d] for d in origin.devices if d in by_device),
                          None) or by_place.get(_place(origin))
        item.site_pk = (item.chair.site_pk if item.chair is not None
                        else site_of_code.get(_place(origin)[0]))


def _route(db: Session, items: list[_Taken]) -> None:
    """Each parsed message routed to its chair, its times read in the chair's site's zone, and
    the chair's open session; one with no chair is refused as unroutable."""
    for item in items:
        assert item.message is not None
        if item.chair is None:
            item.refuse(pcd01.MessageRejected(
                "AE", f"unroutable: no chair for device "
                f"{', '.join(item.message.devices) or '(none)'} or location "
                f"{item.message.location or '(none)'}", item.control_id))
            continue
        item.status = "routed"
    chairs = {item.chair.pk: item.chair for item in items if item.chair is not None}
    if not chairs:
        return
    zones = dict(db.execute(select(Site.pk, Site.time_zone).where(
        Site.pk.in_({c.site_pk for c in chairs.values()}))).all())
    open_at = treatments.open_sessions_at(db, chairs)
    for item in items:
        if item.status == "routed" and item.chair is not None and item.message is not None:
            item.message = item.message.in_zone(zones[item.chair.site_pk])
            item.session, item.chair_last_discharge = open_at.get(item.chair.pk, (None, None))


def _hold_back_earlier_readings(db: Session, items: list[_Taken]) -> None:
    """A message whose readings were taken before its chair's open session may hold them (a
    gateway's backlog sent late, from before the previous patient was discharged or long before
    this one checked in) is kept unmatched, with why, for a nurse to place: never put on the
    patient now in the chair."""
    routed = [item for item in items if item.status == "routed" and item.session is not None]
    since = treatments.monitor_readings_since(db, list({
        i.session.pk: (i.session, i.chair_last_discharge) for i in routed
        if i.session is not None}.values()))
    for item in routed:
        assert item.message is not None and item.session is not None
        earliest = min((r.taken for r in item.message.readings), default=None)
        start, why = since[item.session.pk]
        if earliest is not None and earliest < start:
            item.session = None
            start = start.astimezone(earliest.tzinfo)  # both as the message's times read
            item.reason = "; ".join(filter(None, (
                f"readings taken {earliest.isoformat(timespec='seconds')}, before the chair's "
                f"open session may hold them (from {start.isoformat(timespec='seconds')}, {why})",
                item.reason)))


def _place(message: pcd01.MonitorMessage | None) -> tuple[str, str]:
    site_code, _, rest = (message.location if message else "").partition("^")
    return site_code, rest.split("^")[0]


def _drop_repeats(db: Session, items: list[_Taken]) -> None:
    """A message already acknowledged (now or earlier in the group) is answered AA again and
    stored no second time. A resend is the same message: the same text (control id, MSH-10,
    included), from whatever connection it comes (a gateway that lost an ACK resends on a new
    one); a new message that reuses a control id (a gateway restarted its counter) differs in
    its text and is stored. Found by the text's digest: the look reads the resends alone."""
    routed = [item for item in items if item.status == "routed"]
    if not routed:
        return
    # Compared by text as well: two messages are never taken for one, however unlikely a
    # collision of their digests.
    seen: set[str] = set(db.execute(select(MonitorMessage.raw).where(
        MonitorMessage.raw_digest.in_({item.digest for item in routed}),
        MonitorMessage.ack_code == "AA")).scalars())
    for item in routed:
        if item.incoming.raw in seen:
            item.status, item.code, item.reason = "duplicate", "AA", "already stored"
        seen.add(item.incoming.raw)


def _keep(db: Session, taken: list[_Taken], now: datetime) -> list[int]:
    """Every message kept as received, with what became of it; their keys, in order."""
    rows = [{"id": key, "created_at": now, "updated_at": now, "created_by": t.actor.username,
             "received_at": now, "peer": t.incoming.peer[:100], "control_id": t.control_id[:100],
             "raw": t.incoming.raw, "raw_digest": t.digest, "status": t.status,
             "ack_code": t.code,
             "site_pk": t.site_pk, "chair_pk": t.chair.pk if t.chair else None,
             # why it was refused, or held back unmatched, or which observations were set aside
             "reason": t.reason[:1000]}
            for key, t in zip(time_ordered_ids(len(taken), now), taken, strict=True)]
    keys = dict(insert_rows(db.connection(), INBOX, rows, ("id", "pk")))
    return [keys[row["id"]] for row in rows]


def _store_readings(db: Session, taken: list[_Taken], message_pks: list[int]) -> None:
    """The readings of the messages stored (accepted, partial and unmatched), their alarms, and
    one audit event per session naming its messages."""
    stored = [(t, pk) for t, pk in zip(taken, message_pks, strict=True)
              if t.status in STORED]
    if not stored:
        return
    sessions = {t.session.pk: t.session for t, _ in stored if t.session is not None}
    watches = treatments.alarm_watches(db, list(sessions.values()))
    batches = []
    for t, message_pk in stored:
        assert t.message is not None and t.chair is not None
        batches.append(ReadingBatch(t.session, t.chair.pk, t.message.as_readings(),
                                    (t.message.devices or [""])[0][:64], message_pk, t.actor))
    raised = store_batches(db=db, batches=batches, watches=watches, source="monitor")
    if not sessions:
        return
    patient_ids = dict(db.execute(select(Patient.pk, Patient.id).where(
        Patient.pk.in_({s.patient_pk for s in sessions.values()}))).all())
    per_session: dict[int, list[tuple[_Taken, ReadingBatch, int]]] = defaultdict(list)
    for (t, _), batch, alarm_rows in zip(stored, batches, raised, strict=True):
        if t.session is not None:
            per_session[t.session.pk].append((t, batch, len(alarm_rows)))
    events = []
    for session_pk, group in per_session.items():
        session = sessions[session_pk]
        ids = ", ".join(t.control_id for t, _, _ in group)
        readings = sum(len(batch.readings) for _, batch, _ in group)
        alarms = sum(count for _, _, count in group)
        events.append(audit.new_event(
            actor=group[0][0].actor, action="create", record_type="SessionReading",
            record_id=session.id, patient_id=patient_ids[session.patient_pk],
            detail=f"monitor message{'s' if len(group) > 1 else ''} {ids}: {readings} readings, "
                   f"{alarms} alarms"))
    audit.record_many(db, events)
