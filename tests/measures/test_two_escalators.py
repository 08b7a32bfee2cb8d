"""Escalation when two servers share one PostgreSQL: each server's worker (and every alerts
page, which escalates what is overdue before it lists) looks for overdue alerts, so two may find
the same one at once. An alert is escalated once: one audit event naming whom it now falls to,
and the second looker passes over it without waiting. Before, the second looker waited for the
first's transaction and then escalated the alert again, auditing it twice; the notices that
follow were already claimed with `SKIP LOCKED`, the escalation was not."""

from datetime import timedelta

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit.models import AuditEvent
from ketaclinic.measures import alerts
from ketaclinic.measures.models import Measure, MeasureAlert
from ketaclinic.patients.models import Patient


def _overdue_alert(engine: Engine) -> MeasureAlert:
    """An immediate alert of a living patient, half an hour past its escalation time."""
    with Session(engine, expire_on_commit=False) as db:
        measure = db.execute(select(Measure).join(Patient, Patient.pk == Measure.patient_pk)
                             .where(Patient.deceased.is_(False)).order_by(Measure.pk)
                             ).scalars().first()
        assert measure is not None
        now = clock.now()
        alert = MeasureAlert(patient_pk=measure.patient_pk, site_pk=measure.site_pk,
                             measure_pk=measure.pk, rule="cssrs-high", severity="immediate",
                             message="C-SSRS: behaviour within the past 3 months",
                             source="C-SSRS", raised_at=now - timedelta(hours=1),
                             escalate_at=now - timedelta(minutes=30))
        db.add(alert)
        db.commit()
        return alert


def test_two_servers_escalate_an_overdue_alert_once(seeded_postgres: Engine) -> None:
    engine = seeded_postgres
    alert = _overdue_alert(engine)
    with Session(engine) as first, Session(engine) as second:
        assert alert.pk in [a.pk for a in alerts.escalate_overdue(db=first, actor=alerts.ESCALATOR)]
        # the first has escalated it and not yet committed; a wait would fail, not hang
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        assert alert.pk not in [a.pk for a in alerts.escalate_overdue(
            db=second, actor=alerts.ESCALATOR)]
        second.commit()
        first.commit()
    with Session(engine) as db:
        assert db.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "escalate", AuditEvent.record_id == str(alert.id))
            ).scalar_one() == 1
        escalated = db.get_one(MeasureAlert, alert.pk)
        assert escalated.escalated_at is not None
        assert escalated.notice_status == alerts.NOTICE_PENDING
        # and once it is committed, nobody finds it overdue again
        assert alert.pk not in [a.pk for a in alerts.escalate_overdue(db=db,
                                                                     actor=alerts.ESCALATOR)]
