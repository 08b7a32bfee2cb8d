"""Blocking work run in a thread, handed over and back in one short step each way: a request's
work, the end of its session, and the audit events readers write as a group.

anyio's `to_thread.run_sync` (what Starlette's `run_in_threadpool` calls) spent about 55 us of
CPU a call under 16 concurrent callers, on its capacity limiter, cancel scopes and look-ups of
the running backend: more than a short query, and every request makes the trip. Here threads
take work from one queue and give the answer back with one call onto the caller's loop (4 us).
As with anyio, the work runs in a copy of the caller's context, at most `most` pieces run at
once, and a caller that is cancelled still waits for its work to end (`settled`): work handed to
a thread is never abandoned half done, which is what a shielded cancel scope gave.
"""

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# As many as anyio's default limiter lets run at once (more wait their turn in the queue).
MOST_THREADS = 40

_Job = tuple[asyncio.Future[Any], contextvars.Context, Callable[..., Any], tuple[Any, ...]]


class WorkerThreads:
    """Threads started as work needs them, up to `most`, each taking jobs from one queue."""

    def __init__(self, most: int, name: str = "ketaclinic-worker") -> None:
        self._most = most
        self._name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._idle = 0

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """The work's answer (or what it raised), run in one of the threads; a caller cancelled
        meanwhile waits for the work to end, then is cancelled."""
        done = self.submit(work, *args)
        if await settled(done):
            raise asyncio.CancelledError
        return done.result()

    def submit(self, work: Callable[..., T], *args: Any) -> "asyncio.Future[T]":
        """Hand the work to a thread: a future of the running loop, done with its answer."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._lock:
            start = self._idle <= 0 and self._started < self._most
            if start:
                self._started += 1
            else:
                self._idle -= 1  # taken by this job (below zero: jobs wait for a thread)
        self._jobs.put((done, contextvars.copy_context(), work, args))
        if start:
            threading.Thread(target=self._serve, name=self._name, daemon=True).start()
        return done

    def _serve(self) -> None:
        while True:
            done, context, work, args = self._jobs.get()
            try:
                answer, error = context.run(work, *args), None
            except BaseException as exc:  # handed to the caller, who raises it
                answer, error = None, exc
            with contextlib.suppress(RuntimeError):  # a closed loop: no one is waiting
                done.get_loop().call_soon_threadsafe(settle, done, answer, error)
            with self._lock:
                self._idle += 1


async def settled(done: "asyncio.Future[Any]") -> bool:
    """Wait until the future is done, however often the caller is cancelled meanwhile: whether
    it was (the caller then raises CancelledError itself, once it has dealt with the outcome)."""
    cancelled = False
    while not done.done():
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            cancelled = True
        except BaseException:  # noqa: S110 - the work's own error, read from the future
            pass
    return cancelled


def settle(done: asyncio.Future[Any], answer: Any, error: BaseException | None) -> None:
    """Give a future its answer, or its error when there is one (unless it is done already)."""
    if done.done():
        return
    if error is None:
        done.set_result(answer)
    else:
        done.set_exception(error)


# The threads requests' work runs in.
request_threads = WorkerThreads(MOST_THREADS)


async def in_thread(work: Callable[..., T], *args: Any) -> T:
    """Run a request's blocking work in a worker thread and await its answer."""
    return await request_threads.run(work, *args)
