"""The readings of many monitor messages stored in one insert, each session's alarms decided on
a watch held across the group, so a group costs a few statements however many messages it has."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.time_ordered_ids import time_ordered_ids
from ketaclinic.knowledge.monitoring import Alarm, Reading
from ketaclinic.treatments import reading_tally
from ketaclinic.treatments.models import SessionAlarm, SessionReading, TreatmentSession
from ketaclinic.treatments.service import VITAL_FIELDS, AlarmWatch, store_alarms

# The columns that differ from batch to batch (or reading to reading), gathered column by column.
_COLUMNS = ("id", "taken_at", *VITAL_FIELDS, "session_pk", "chair_pk", "device", "message_pk",
            "created_by")


@dataclass
class ReadingBatch:
    """One message's readings, for its chair's open session (None: kept unmatched)."""

    treatment_session: TreatmentSession | None
    chair_pk: int
    readings: Sequence[Reading]
    device: str
    message_pk: int
    actor: Actor


def store_batches(*, db: Session, batches: Sequence[ReadingBatch],
                  watches: dict[int, AlarmWatch], source: str) -> list[list[SessionAlarm]]:
    """Store every batch's readings in one insert; returns each batch's alarms, in order.

    A session's batches are decided in the order given, on its watch (see AlarmWatch)."""
    now = clock.now()
    columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
    decided: dict[int, list[tuple[int, Any, Alarm]]] = defaultdict(list)
    for index, batch in enumerate(batches):
        count = len(batch.readings)
        ids = time_ordered_ids(count, now)
        session = batch.treatment_session
        columns["id"] += ids
        columns["taken_at"] += [reading.taken for reading in batch.readings]
        for name in VITAL_FIELDS:
            columns[name] += [getattr(reading, name) for reading in batch.readings]
        for name, value in (("session_pk", session.pk if session else None),
                            ("chair_pk", batch.chair_pk), ("device", batch.device),
                            ("message_pk", batch.message_pk),
                            ("created_by", batch.actor.username)):
            columns[name] += [value] * count
        if session is not None:
            decided[session.pk] += [(index, key, alarm) for key, alarm in watches[session.pk]
                                    .decide(list(zip(ids, batch.readings, strict=True)))]
    reading_tally.insert_tallied(
        db.connection(), columns, constants={
            "created_at": now, "updated_at": now, "source": source, "status": "final"},
        readings_by_session=[(b.treatment_session.pk, b.readings) for b in batches
                             if b.treatment_session is not None])
    raised: list[list[SessionAlarm]] = [[] for _ in batches]
    alarming = {key for pairs in decided.values() for _, key, _ in pairs}
    if not alarming:
        return raised
    keys = dict(db.execute(select(SessionReading.id, SessionReading.pk).where(
        SessionReading.id.in_(alarming))).all())
    for session_pk, pairs in decided.items():
        if not pairs:
            continue
        first = batches[pairs[0][0]]
        assert first.treatment_session is not None and first.treatment_session.pk == session_pk
        stored = store_alarms(db, first.treatment_session,
                              [(keys[key], alarm) for _, key, alarm in pairs], first.actor)
        for (index, _, _), alarm_row in zip(pairs, stored, strict=True):
            raised[index].append(alarm_row)
    return raised
