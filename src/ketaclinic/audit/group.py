"""Group commit of the audit events of requests that only read: many readers' events go into
one short transaction and one fsync, and each reader answers only once its events are durable.

On SQLite every commit is an fsync behind the one write lock, so an audit insert per read would
let a clinic read no faster than its disk syncs; grouped, concurrent readers share a sync.
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ketaclinic.audit.models import AuditEvent


@dataclass
class _Ticket:
    events: Sequence[AuditEvent]
    done: bool = False
    error: BaseException | None = None


class GroupWriter:
    """Writes batches of events with `write_batch`; whoever finds no batch in flight writes
    everything waiting, the others wait for it."""

    def __init__(self, write_batch: Callable[[Sequence[AuditEvent]], None]) -> None:
        self._write_batch = write_batch
        self._ready = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._writing = False

    def write(self, events: Sequence[AuditEvent]) -> None:
        """Return once the events are committed (raise what the commit raised)."""
        ticket = _Ticket(events)
        with self._ready:
            self._waiting.append(ticket)
            while not ticket.done:
                if self._writing:
                    self._ready.wait()
                    continue
                batch, self._waiting, self._writing = self._waiting, [], True
                error: BaseException | None = None
                self._ready.release()
                try:
                    self._write_batch([event for t in batch for event in t.events])
                except BaseException as exc:  # every waiter in the batch learns of it
                    error = exc
                finally:
                    self._ready.acquire()
                for waiting in batch:
                    waiting.done, waiting.error = True, error
                self._writing = False
                self._ready.notify_all()
        if ticket.error is not None:
            raise ticket.error
