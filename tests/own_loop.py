"""Running a coroutine from a test, whatever the test's thread is doing: the browser tests'
Playwright keeps an event loop running in the main thread of the worker that ran them, where
`asyncio.run` refuses to start another."""

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_own_loop(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """The coroutine's result, run to completion on a new event loop in a thread of its own."""
    return in_own_thread(lambda: asyncio.run(make()))


def in_own_thread(work: Callable[[], T]) -> T:
    """The result of work that starts an event loop of its own (`asyncio.run`, as a command
    does), done in a thread with none running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()
