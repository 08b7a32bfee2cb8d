"""Watchers, one of each per server process, tell open pages when what they show changed: the
chair-side page its session, the dashboard its site's chairs in use.

Each page's event stream used to read its session's change marker every second, so a clinic
with forty tablets at the chairs ran forty sets of queries a second. A watcher reads the markers
of everything watched together, once a second (a few grouped queries whatever the number of
pages), and wakes only the streams whose subject changed.
"""

import asyncio
import hashlib
import re
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.db import session_factory
from ketaclinic.treatments import service as treatments

POLL_S = 1.0
KEEP_ALIVE_S = 15.0
STREAM_MAX_S = 4 * 3600  # a page open longer reconnects (the browser does it by itself)
Markers = dict[int, tuple[Any, ...]]
DRAWN = re.compile(r"[0-9a-f]{24}")  # a drawn_token, as a page hands it to its stream


def read_markers(session_pks: Sequence[int]) -> Markers:
    """The sessions' change markers, read through a session of their own."""
    with session_factory()() as db:
        return treatments.change_markers(db, session_pks)


def read_site_markers(site_pks: Sequence[int]) -> Markers:
    """The sites' chairs-in-use markers, read through a session of their own."""
    with session_factory()() as db:
        return treatments.site_change_markers(db, site_pks)


def drawn_for_session(db: Session, session_pk: int) -> str:
    """The token of the session as a page is drawn with it now (in the page's own read)."""
    return drawn_token(treatments.change_markers(db, [session_pk]).get(session_pk, ()))


def drawn_for_site(db: Session, site_pk: int) -> str:
    """The token of the site's chairs in use as a page is drawn with them now."""
    return drawn_token(treatments.site_change_markers(db, [site_pk]).get(site_pk, ()))


def drawn_token(marker: tuple[Any, ...]) -> str:
    """A short fingerprint of a subject's change marker: a page is drawn with it and hands it
    to its stream, which compares the subject against what the page shows (not against the
    moment the stream connected: a change in between would be missed)."""
    return hashlib.sha256(repr(marker).encode("utf-8")).hexdigest()[:24]


class _Page:
    """One open page's subscription: the state it last showed, and its wake-up."""

    def __init__(self, seen: str) -> None:
        self.seen = seen
        self.changed = asyncio.Event()


class ChangeWatcher:
    """Watches subjects (sessions, or sites) by key for the streams of one event loop:
    subscribe with `watch`."""

    def __init__(self, read: Callable[[Sequence[int]], Markers], every_s: float = POLL_S) -> None:
        self._read = read
        self._every_s = every_s
        self._pages: dict[int, set[_Page]] = {}
        self._task: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def watch(self, key: int, drawn: str = "") -> AsyncIterator[asyncio.Event]:
        """An event set whenever the subject with this key changes from what the page was
        drawn with (its `drawn_token`; clear the event once handled). A stream opened without
        one compares against the subject as it is when the stream opens."""
        seen = drawn or drawn_token((await asyncio.to_thread(self._read, [key])).get(key, ()))
        page = _Page(seen)
        self._pages.setdefault(key, set()).add(page)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield page.changed
        finally:
            pages = self._pages.get(key, set())
            pages.discard(page)
            if not pages:
                self._pages.pop(key, None)

    async def _run(self) -> None:
        try:
            while self._pages:
                await asyncio.sleep(self._every_s)
                watched = list(self._pages)
                if not watched:
                    break
                markers = await asyncio.to_thread(self._read, watched)
                for key in watched:
                    latest = drawn_token(markers.get(key, ()))
                    for page in list(self._pages.get(key, ())):
                        if page.seen != latest:
                            page.seen = latest
                            page.changed.set()
        finally:
            self._task = None


_watchers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[ChangeWatcher, ChangeWatcher]]" = (
    weakref.WeakKeyDictionary())


def _of_this_loop() -> tuple[ChangeWatcher, ChangeWatcher]:
    loop = asyncio.get_running_loop()
    if loop not in _watchers:
        _watchers[loop] = (ChangeWatcher(read_markers), ChangeWatcher(read_site_markers))
    return _watchers[loop]


def watcher() -> ChangeWatcher:
    """This event loop's (this server process's) watcher of treatment sessions."""
    return _of_this_loop()[0]


def site_watcher() -> ChangeWatcher:
    """This event loop's watcher of each site's chairs in use."""
    return _of_this_loop()[1]


def stream(request: Request, changes: Callable[[], ChangeWatcher], key: int,
           drawn: str = "") -> StreamingResponse:
    """Server-sent events for one page: 'changed' whenever its subject changes, a comment line
    now and then to keep proxies from closing an idle stream, for at most STREAM_MAX_S.
    `changes` gives the watcher: it is taken on the server's event loop, where the stream
    runs, not in the thread the route ran in."""

    async def events() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        started = asyncio.get_running_loop().time()
        async with changes().watch(key, drawn if DRAWN.fullmatch(drawn) else "") as changed:
            while asyncio.get_running_loop().time() - started < STREAM_MAX_S:
                if await request.is_disconnected():
                    break
                try:
                    await asyncio.wait_for(changed.wait(), KEEP_ALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                changed.clear()
                yield f"event: changed\ndata: {clock.now().isoformat()}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
