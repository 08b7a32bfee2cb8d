"""Work repeated in a thread of its own (a server's sealing of the audit trail and folding of
reading tallies, the worker's passes): a pass at each interval until stopped, a failed pass
logged and never fatal."""

import logging
import threading
from collections.abc import Callable
from typing import Any


def run_every(every_s: float, work: Callable[[], Any], stop: threading.Event,
              log: logging.Logger, failure: str) -> None:
    """Run `work` every interval until stopped; a failure is logged with `failure`, and the
    next pass runs as planned (what failed is still due then)."""
    while not stop.is_set():
        try:
            work()
        except Exception:
            log.exception(failure)
        stop.wait(every_s)


def start_every(every_s: float, work: Callable[[], Any], *, name: str, log: logging.Logger,
                failure: str) -> threading.Event:
    """`run_every` in a daemon thread named `name`; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_every, args=(every_s, work, stop, log, failure), name=name,
                     daemon=True).start()
    return stop
