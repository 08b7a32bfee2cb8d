"""The background worker: sends appointment reminders, escalates alerts left open past their time
and emails the on-call clinician, again and again (`ketaclinic worker`, or a thread of the demo
server). Each pass is one short transaction; rows are claimed with SKIP LOCKED, so several
workers may run against one PostgreSQL."""

import logging
import threading
from dataclasses import dataclass

from ketaclinic.db import unit_of_work
from ketaclinic.measures import alerts
from ketaclinic.scheduling import reminders

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pass:
    """What one pass did."""

    sent: int
    retrying: int
    failed: int
    escalated: int
    notices_sent: int
    notices_failed: int

    def __bool__(self) -> bool:
        return any(vars(self).values())


def run_once() -> Pass:
    """Send the due reminders, escalate overdue alerts and send their notices."""
    with unit_of_work() as db:
        done = reminders.send_due(db)
    with unit_of_work() as db:
        escalated = alerts.escalate_overdue(db=db, actor=alerts.ESCALATOR)
        notices = alerts.send_notices(db)
    return Pass(sent=sum(r.status == reminders.SENT for r in done),
                retrying=sum(r.status == reminders.PENDING for r in done),
                failed=sum(r.status == reminders.FAILED for r in done),
                escalated=len(escalated),
                notices_sent=sum(a.notice_status == alerts.NOTICE_SENT for a in notices),
                notices_failed=sum(a.notice_status == alerts.NOTICE_FAILED for a in notices))


def run_forever(interval_s: float, stop: threading.Event | None = None) -> None:
    """A pass every interval until stopped; an error is logged, never fatal."""
    halt = stop or threading.Event()
    while not halt.is_set():
        try:
            done = run_once()
            if done:
                log.info("worker: %s", done)
        except Exception:  # keep the worker alive; what was due stays due for the next pass
            log.exception("worker pass failed")
        halt.wait(interval_s)


def start_in_background(interval_s: float = 60.0) -> threading.Event:
    """Run the worker in a daemon thread (demo mode); set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(interval_s, stop), name="worker",
                     daemon=True).start()
    return stop
