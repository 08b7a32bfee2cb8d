"""Routes whose blocking work runs in one trip to a thread: the handler, the check of its answer
against the response model, and the end of its database session (the commit, with the audit
events it holds).

FastAPI runs a plain `def` handler in a thread, then checks its answer in a second, and the
session's dependency ends it in a third; each trip costs more than a short query. Here the
handler's wrapper does all three in one trip. The answer is checked before the commit, as
before (a lazily loaded attribute still finds its session open, and an answer that fails its
model commits nothing); FastAPI then finds a model instance already checked and only encodes it,
on the event loop, touching no database.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Any

import anyio
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ketaclinic.audit import service as audit
from ketaclinic.web.deps import finish_in_thread


class OneTripRoute(APIRoute):
    """An APIRoute whose plain-function handler runs with its answer's check and its session's
    end in one thread (see the module's docstring); `async def` and generator handlers (which
    FastAPI streams) are left as they are."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if inspect.isfunction(endpoint) and not (inspect.iscoroutinefunction(endpoint)
                                                 or inspect.isgeneratorfunction(endpoint)):
            endpoint = self._one_trip(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def _one_trip(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        async def in_one_trip(**values: Any) -> Any:
            db = next((v for v in values.values() if isinstance(v, Session)), None)
            # Shielded: a client that hangs up cannot leave the transaction half ended.
            with anyio.CancelScope(shield=True):
                answer, held = await run_in_threadpool(self._run, handler, values, db)
                if held:
                    await audit.write_held(held)
            return answer

        return in_one_trip

    def _run(self, handler: Callable[..., Any], values: dict[str, Any],
             db: Session | None) -> tuple[Any, list[Any]]:
        answer = handler(**values)
        if self.response_field is not None and not isinstance(answer, Response):
            answer, errors = self.response_field.validate(answer, {}, loc=("response",))
            if errors:
                raise ResponseValidationError(errors=errors, body=answer)
        return answer, finish_in_thread(db) if db is not None else []
