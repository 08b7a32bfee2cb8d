"""A read that turned out to write, on SQLite, and found another writer had committed since it
began, cannot take the write lock over its stale snapshot: it is run once more from the start,
this time as a writer. Nothing was committed and nothing answered by then, so the retry is safe."""

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ketaclinic.db import ReadBecameStale, one_writer_at_a_time
from ketaclinic.web.deps import READ_METHODS, WRITER


class RetryStaleReads:
    """Run a GET again as a writer when its read transaction could not become a write."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only SQLite's read-first transactions go stale (PostgreSQL reads and writes at once).
        if (scope["type"] != "http" or scope["method"] not in READ_METHODS
                or not one_writer_at_a_time()):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        started = False

        async def remembering_receive() -> Message:
            message = await receive()
            received.append(message)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, remembering_receive, watching_send)
        except ReadBecameStale:
            if started:
                raise
            replay = list(received)

            async def replaying_receive() -> Message:
                return replay.pop(0) if replay else await receive()

            state: dict[str, Any] = scope.setdefault("state", {})
            state[WRITER] = True
            await self.app(scope, replaying_receive, send)
