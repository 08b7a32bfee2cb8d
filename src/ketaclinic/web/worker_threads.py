"""A request's blocking work run in a thread, handed over and back in one short step each way.

anyio's `to_thread.run_sync` (what Starlette's `run_in_threadpool` calls) spent about 55 us of
CPU a call under 16 concurrent callers, on its capacity limiter, cancel scopes and look-ups of
the running backend: more than a short query, and every request makes the trip. Here threads
take work from one queue and give the answer back with one call onto the caller's loop (4 us).
As with anyio, the work runs in a copy of the caller's context, at most `MOST_THREADS` pieces
run at once, and a caller that is cancelled still waits for its work to end.
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

    def __init__(self, most: int) -> None:
        self._most = most
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._idle = 0

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """The work's answer (or what it raised), run in one of the threads."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._lock:
            start = self._idle <= 0 and self._started < self._most
            if start:
                self._started += 1
            else:
                self._idle -= 1  # taken by this job (below zero: jobs wait for a thread)
        self._jobs.put((done, contextvars.copy_context(), work, args))
        if start:
            threading.Thread(target=self._serve, name="ketaclinic-worker", daemon=True).start()
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            while not done.done():  # the work is not abandoned half done
                try:
                    await asyncio.shield(done)
                except asyncio.CancelledError:
                    continue
            raise

    def _serve(self) -> None:
        while True:
            done, context, work, args = self._jobs.get()
            try:
                answer, error = context.run(work, *args), None
            except BaseException as exc:  # handed to the caller, who raises it
                answer, error = None, exc
            with contextlib.suppress(RuntimeError):  # a closed loop: no one is waiting
                done.get_loop().call_soon_threadsafe(_settle, done, answer, error)
            with self._lock:
                self._idle += 1


def _settle(done: asyncio.Future[Any], answer: Any, error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(answer)
    else:
        done.set_exception(error)


_THREADS = WorkerThreads(MOST_THREADS)


async def in_thread(work: Callable[..., T], *args: Any) -> T:
    """Run blocking work in a worker thread and await its answer."""
    return await _THREADS.run(work, *args)
