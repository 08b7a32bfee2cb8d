"""Blocking work in a worker thread: run in the caller's context, its answer or
error handed back, no more at once than allowed, and never abandoned by a cancelled caller."""

import asyncio
import contextvars
import threading

import pytest

from ketaclinic.worker_threads import WorkerThreads, settled
from tests.own_loop import run_in_own_loop

WHO = contextvars.ContextVar("who", default="nobody")


def test_work_runs_in_another_thread_with_the_callers_context() -> None:
    threads = WorkerThreads(2)

    def work(plus: int) -> tuple[str, int, int]:
        return WHO.get(), threading.get_ident(), plus + 1

    async def call() -> tuple[tuple[str, int, int], int]:
        WHO.set("nurse")
        return await threads.run(work, 41), threading.get_ident()

    (who, ident, answer), loop_thread = run_in_own_loop(call)
    assert (who, answer) == ("nurse", 42)
    assert ident != loop_thread


def test_what_the_work_raises_the_caller_raises() -> None:
    threads = WorkerThreads(2)

    def work() -> None:
        raise LookupError("no such session")

    with pytest.raises(LookupError, match="no such session"):
        run_in_own_loop(lambda: threads.run(work))


def test_no_more_than_the_most_run_at_once_and_the_rest_wait_their_turn() -> None:
    threads = WorkerThreads(2)
    lock = threading.Lock()
    running, most_seen = [0], [0]
    release = threading.Event()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            most_seen[0] = max(most_seen[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1
        return n

    async def six() -> list[int]:
        calls = [asyncio.ensure_future(threads.run(work, n)) for n in range(6)]
        await asyncio.sleep(0.2)
        release.set()
        return list(await asyncio.gather(*calls))

    assert run_in_own_loop(six) == [0, 1, 2, 3, 4, 5]
    assert most_seen[0] == 2


def test_a_cancelled_caller_waits_for_its_work_to_end() -> None:
    threads = WorkerThreads(2)
    release, ended = threading.Event(), threading.Event()

    def work() -> None:
        release.wait(5)
        ended.set()

    async def cancel_while_running() -> bool:
        call = asyncio.ensure_future(threads.run(work))
        await asyncio.sleep(0.05)
        call.cancel()
        await asyncio.sleep(0.1)
        still_waiting = not call.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await call
        return still_waiting and ended.is_set()

    assert run_in_own_loop(cancel_while_running)


def test_settled_waits_through_cancellation_and_says_the_caller_was_cancelled() -> None:
    threads = WorkerThreads(1)
    release = threading.Event()

    def work() -> str:
        release.wait(5)
        return "committed"

    async def cancel_twice() -> tuple[bool, str]:
        done = threads.submit(work)
        waiting = asyncio.ensure_future(settled(done))
        for _ in range(2):
            await asyncio.sleep(0.05)
            waiting.cancel()
        await asyncio.sleep(0.05)
        assert not waiting.done()
        release.set()
        return await waiting, done.result()

    assert run_in_own_loop(cancel_twice) == (True, "committed")


def test_settled_leaves_the_works_error_in_its_future() -> None:
    threads = WorkerThreads(1)

    def work() -> None:
        raise LookupError("no such alarm")

    async def call() -> tuple[bool, BaseException | None]:
        done = threads.submit(work)
        return await settled(done), done.exception()

    cancelled, error = run_in_own_loop(call)
    assert cancelled is False and isinstance(error, LookupError)
