"""The background worker: seals the audit trail and the ledger and anchors them on schedule,
cancels what is still booked for a patient since recorded as deceased and closes their portal
account, sends appointment reminders, escalates alerts left open past their time and emails
the on-call clinician, again and again (`ketaclinic worker`, or a thread of the demo server). Each pass is
one short transaction; rows are claimed with SKIP LOCKED, so several workers may run against one
PostgreSQL."""

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from ketaclinic import clock, sealer
from ketaclinic.audit import anchors
from ketaclinic.audit.service import AUDIT_TRAIL
from ketaclinic.auth import service as auth
from ketaclinic.db import unit_of_work
from ketaclinic.measures import alerts
from ketaclinic.repeating import run_every, start_every
from ketaclinic.scheduling import booking, reminders
from ketaclinic.settings import get_settings

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
    sealed: int = 0
    anchored: bool = False
    cancelled_after_death: int = 0
    accounts_closed_after_death: int = 0

    def __bool__(self) -> bool:
        return any(vars(self).values())


def _anchor_due(path: Path, every_s: float) -> bool:
    try:
        taken = anchors.last(path, AUDIT_TRAIL.chain).taken_at
    except anchors.AnchorUnreadable:
        return True  # no anchor yet (or an unreadable one): take one now
    return (clock.now() - taken).total_seconds() >= every_s


def run_once() -> Pass:
    """Seal committed audit and ledger rows (and anchor them when due), cancel the bookings and
    close the portal accounts of patients recorded as deceased, send the due reminders,
    escalate overdue alerts and send their notices."""
    settings = get_settings()
    sealed = sealer.seal_once()
    anchored = False
    if settings.audit_anchor_file:
        path = Path(settings.audit_anchor_file)
        if _anchor_due(path, settings.audit_anchor_every_s):
            sealer.anchor(path)
            anchored = True
    with unit_of_work() as db:  # a death sent by an EHR or imported: as the chart does
        cancelled = booking.cancel_after_death(db=db)
        closed = auth.close_accounts_of_deceased(db=db)
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
                notices_failed=sum(a.notice_status == alerts.NOTICE_FAILED for a in notices),
                sealed=sealed, anchored=anchored, cancelled_after_death=len(cancelled),
                accounts_closed_after_death=len(closed))


def _pass_logged() -> None:
    done = run_once()
    if done:
        log.info("worker: %s", done)


def run_forever(interval_s: float, stop: threading.Event | None = None) -> None:
    """A pass every interval until stopped; an error is logged, never fatal (what was due stays
    due for the next pass)."""
    run_every(interval_s, _pass_logged, stop or threading.Event(), log, "worker pass failed")


def start_in_background(interval_s: float = 60.0) -> threading.Event:
    """Run the worker in a daemon thread (demo mode); set the returned event to stop it."""
    return start_every(interval_s, _pass_logged, name="worker", log=log,
                       failure="worker pass failed")
