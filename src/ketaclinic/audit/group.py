"""Group commit of the audit events of requests that only read: many readers' events go into
one short transaction and one fsync, and each reader answers only once its events are durable.

On SQLite every commit is an fsync behind the one write lock, so an audit insert per read would
let a clinic read no faster than its disk syncs; grouped, concurrent readers share a sync.
"""

import asyncio
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ketaclinic.audit.models import AuditEvent
from ketaclinic.worker_threads import WorkerThreads, settle, settled


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


@dataclass
class _LoopQueue:
    waiting: list[tuple[Sequence[AuditEvent], asyncio.Future[None]]] = field(default_factory=list)
    writing: bool = False
    drain: asyncio.Task[None] | None = None  # kept referenced while it runs


class AsyncGroupWriter:
    """The same grouping for callers on an event loop: they wait on the loop, not in a thread,
    and one thread writes each batch, so a batch of N readers costs one trip to a thread rather
    than N threads parked on a condition and woken in turn. A caller cancelled while it waits
    does not take its events out: the batch they are in is written all the same."""

    def __init__(self, write_batch: Callable[[Sequence[AuditEvent]], None]) -> None:
        self._write_batch = write_batch
        # Its own thread, so a batch never queues behind requests' work.
        self._thread = WorkerThreads(1, name="ketaclinic-audit-group")
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = (
            weakref.WeakKeyDictionary())

    async def write(self, events: Sequence[AuditEvent]) -> None:
        """Return once the events are committed (raise what the commit raised)."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)  # setdefault would make a weak reference every call
        if queue is None:
            queue = self._queues.setdefault(loop, _LoopQueue())
        done: asyncio.Future[None] = loop.create_future()
        queue.waiting.append((events, done))
        if not queue.writing:
            queue.writing = True
            queue.drain = loop.create_task(self._drain(queue))
        await done

    async def _drain(self, queue: _LoopQueue) -> None:
        try:
            while queue.waiting:
                batch, queue.waiting = queue.waiting, []
                events = [event for waiting_events, _ in batch for event in waiting_events]
                written = self._thread.submit(self._write_batch, events)
                cancelled = await settled(written)  # a batch is never abandoned half written
                error = written.exception()
                for _, done in batch:  # every waiter in the batch learns how it went
                    settle(done, None, error)
                if cancelled:
                    raise asyncio.CancelledError
                if error is not None and not isinstance(error, Exception):
                    raise error
        finally:
            queue.writing, queue.drain = False, None
