"""The reminder worker: sends what is due, again and again (`ketaclinic worker`, or a thread of
the demo server)."""

import logging
import threading

from ketaclinic.db import unit_of_work
from ketaclinic.scheduling import reminders

log = logging.getLogger(__name__)


def run_once() -> tuple[int, int, int]:
    """Send the due reminders in one transaction; returns (sent, retrying, failed)."""
    with unit_of_work() as db:
        done = reminders.send_due(db)
        counts = (sum(r.status == reminders.SENT for r in done),
                  sum(r.status == reminders.PENDING for r in done),
                  sum(r.status == reminders.FAILED for r in done))
    return counts


def run_forever(interval_s: float, stop: threading.Event | None = None) -> None:
    """Send due reminders every interval until stopped; an error is logged, never fatal."""
    halt = stop or threading.Event()
    while not halt.is_set():
        try:
            sent, retrying, failed = run_once()
            if sent or retrying or failed:
                log.info("reminders: %d sent, %d to retry, %d failed", sent, retrying, failed)
        except Exception:  # keep the worker alive; the reminder stays pending for the next pass
            log.exception("reminder pass failed")
        halt.wait(interval_s)


def start_in_background(interval_s: float = 60.0) -> threading.Event:
    """Run the worker in a daemon thread (demo mode); set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(interval_s, stop), name="reminders",
                     daemon=True).start()
    return stop
