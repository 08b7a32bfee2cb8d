"""The tables written at every reading (readings, their tally parts, monitor messages) and the
keys that point at them hold values past 2^31 - 1: a network's monitors at their peak (about
120 readings a second) use that many keys in about 500 full ten-hour days. PostgreSQL only:
SQLite's integer primary key is its 64-bit rowid already."""

from datetime import timedelta

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.treatments import reading_tally
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import (
    OPEN,
    MonitorMessage,
    SessionAlarm,
    SessionReading,
    SessionReadingTally,
    TreatmentSession,
)
from ketaclinic.treatments.reading_groups import ReadingBatch, store_batches

INT4_MAX = 2**31 - 1
WIDE_TABLES = (SessionReading, SessionReadingTally, MonitorMessage)


def _keys_near_the_int4_end(engine: Engine) -> None:
    """Each wide table's next key just past the largest 32-bit integer."""
    with engine.begin() as connection:
        for model in WIDE_TABLES:
            connection.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'pk'), :v)"),
                               {"t": model.__tablename__, "v": INT4_MAX})


def test_readings_messages_and_alarms_are_stored_past_two_billion_keys(
        seeded_postgres: Engine) -> None:
    engine = seeded_postgres
    _keys_near_the_int4_end(engine)
    with Session(engine) as db:
        alarmed = select(SessionAlarm.session_pk).where(SessionAlarm.acknowledged_at.is_(None))
        session = db.execute(select(TreatmentSession).where(
            TreatmentSession.status == OPEN, TreatmentSession.pk.not_in(alarmed))
            .order_by(TreatmentSession.pk)).scalars().first()
        assert session is not None
        session.dose_start = session.checked_in_at
        nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
        message = MonitorMessage(received_at=clock.now(), raw="MSH|", status="accepted",
                                 ack_code="AA", site_pk=session.site_pk, chair_pk=session.chair_pk)
        db.add(message)
        db.flush()
        later = session.checked_in_at + timedelta(minutes=10)
        [alarms] = store_batches(db=db, batches=[ReadingBatch(
            session, session.chair_pk, [Reading(later, systolic_mmhg=200.0, diastolic_mmhg=90.0)],
            "monitor-1", message.pk, nurse)], watches=treatments.alarm_watches(db, [session]),
            source="monitor")
        assert alarms, "a systolic of 200 raises an alarm"
        treatments.store_readings(db=db, treatment_session=session, chair_pk=session.chair_pk,
                                  source="api", actor=nurse,
                                  readings=[Reading(later, heart_rate_bpm=70.0)])
        reading_tally.fold_parts(db.connection(), [session.pk])
        db.commit()
        session_pk, message_pk, alarm_id = session.pk, message.pk, alarms[0].id
    with Session(engine) as db:
        assert message_pk > INT4_MAX
        [monitored] = db.scalars(select(SessionReading.pk).where(
            SessionReading.message_pk == message_pk))
        assert monitored > INT4_MAX
        assert db.scalar(select(SessionAlarm.reading_pk).where(
            SessionAlarm.id == alarm_id)) == monitored
        assert db.scalar(select(func.max(SessionReading.pk)).where(
            SessionReading.session_pk == session_pk)) == monitored + 1
        [part] = db.scalars(select(SessionReadingTally.pk).where(
            SessionReadingTally.session_pk == session_pk))
        assert part > INT4_MAX
        [tally] = db.execute(reading_tally.summed([session_pk])).mappings()
        assert tally["readings"] == db.scalar(
            select(func.count()).where(SessionReading.session_pk == session_pk))
