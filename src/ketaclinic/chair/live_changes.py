"""One watcher per server process tells the open chair-side pages when their session changed.

Each page's event stream used to read its session's change marker every second, so a clinic
with forty tablets at the chairs ran forty sets of queries a second. The watcher reads the
markers of every watched session together, once a second (three grouped queries whatever the
number of pages), and wakes only the streams whose session changed.
"""

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from ketaclinic.db import session_factory
from ketaclinic.treatments import service as treatments

POLL_S = 1.0
Markers = dict[int, tuple[Any, ...]]


def read_markers(session_pks: Sequence[int]) -> Markers:
    """The sessions' change markers, read through a session of their own."""
    with session_factory()() as db:
        return treatments.change_markers(db, session_pks)


class SessionWatcher:
    """Watches sessions for the streams of one event loop: subscribe with `watch`."""

    def __init__(self, read: Callable[[Sequence[int]], Markers], every_s: float = POLL_S) -> None:
        self._read = read
        self._every_s = every_s
        self._waiting: dict[int, set[asyncio.Event]] = {}
        self._known: Markers = {}
        self._task: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def watch(self, session_pk: int) -> AsyncIterator[asyncio.Event]:
        """An event set whenever the session changes (clear it once handled)."""
        changed = asyncio.Event()
        if session_pk not in self._waiting:
            # The page was drawn just now: what it shows is the state to compare against.
            self._known.update(await asyncio.to_thread(self._read, [session_pk]))
        self._waiting.setdefault(session_pk, set()).add(changed)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield changed
        finally:
            watchers = self._waiting.get(session_pk, set())
            watchers.discard(changed)
            if not watchers:
                self._waiting.pop(session_pk, None)
                self._known.pop(session_pk, None)

    async def _run(self) -> None:
        try:
            while self._waiting:
                await asyncio.sleep(self._every_s)
                watched = list(self._waiting)
                if not watched:
                    break
                markers = await asyncio.to_thread(self._read, watched)
                for pk in watched:
                    if pk in self._known and markers.get(pk) != self._known[pk]:
                        for changed in self._waiting.get(pk, ()):
                            changed.set()
                    if pk in self._waiting:
                        self._known[pk] = markers.get(pk, ())
        finally:
            self._task = None


_watchers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SessionWatcher]" = (
    weakref.WeakKeyDictionary())


def watcher() -> SessionWatcher:
    """This event loop's (this server process's) watcher."""
    loop = asyncio.get_running_loop()
    if loop not in _watchers:
        _watchers[loop] = SessionWatcher(read_markers)
    return _watchers[loop]
