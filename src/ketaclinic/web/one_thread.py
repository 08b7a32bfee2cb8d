"""Routes whose blocking work runs in one trip to a thread: the handler, the check of its answer
against the response model, and the end of its database session (the commit, with the audit
events it holds).

FastAPI runs a plain `def` handler in a thread, then checks its answer in a second, and the
session's dependency ends it in a third; each trip costs more than a short query. Here the
handler's wrapper does all three in one trip. The answer is checked before the commit, as
before (a lazily loaded attribute still finds its session open, and an answer that fails its
model commits nothing); FastAPI then finds a model instance already checked and only encodes it,
on the event loop, touching no database.

A route that takes only what the usual handler takes (its session, `Depends(require(...))`,
`Request`, string path parameters, string query parameters with a default, and the raw body or
a JSON body model) also makes its session and checks the caller itself, as `get_db` and
`require` do, instead of having FastAPI solve them as dependencies on every request: solving
them was a fifth of an audited read's time on the event loop. Nothing FastAPI would check first
can fail on such a route (any string is a valid value, and a query parameter left out takes its
default); a body model is read once the caller is known (`web/model_body.py`), so a caller
without a token learns only that, whatever they sent. Such a route's handler is also its own
(`_lean_handler`): it hands the path and query strings to the call and encodes the answer with
FastAPI's `serialize_response`, as FastAPI's handler does, without that handler's dependency
solving, telemetry and streaming cases on every request. The route's dependencies as declared
stay what FastAPI documents and what `web/routes.py` lists.
"""

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant, get_typed_signature
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute, serialize_response
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ketaclinic.kernel.permissions import Permission
from ketaclinic.web.deps import (
    finish_in_thread,
    get_db,
    permitted,
    request_body,
    request_session,
    require,
    seen_to_its_end,
)
from ketaclinic.web.model_body import model_body, model_type
from ketaclinic.worker_threads import request_threads

# Dependencies that need no session, which a route solving its own session may still declare.
SESSIONLESS = (request_body,)


@dataclass(frozen=True)
class _Usual:
    """What a route solving its own session and caller needs to know of its handler."""

    session: str  # the parameter the session goes to
    actor: str  # the parameter the caller goes to
    permission: Permission
    body: Any = None  # the body model's field (a `Dependant`'s), if the route takes one
    model: type[BaseModel] | None = None  # and the model it is


class OneTripRoute(APIRoute):
    """An APIRoute whose plain-function handler runs with its answer's check and its session's
    end in one thread (see the module's docstring); `async def` and generator handlers (which
    FastAPI streams) are left as they are."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self._one_trip = inspect.isfunction(endpoint) and not (
            inspect.iscoroutinefunction(endpoint) or inspect.isgeneratorfunction(endpoint))
        if self._one_trip:
            endpoint = self._in_one_trip(endpoint)
        self._lean: Callable[[Request], Awaitable[Response]] | None = None
        super().__init__(path, endpoint, **kwargs)
        if self._lean is not None:
            self.app = _answering(self._lean)

    def get_route_handler(self) -> Callable[[Request], Any]:
        """FastAPI's handler; for a usual route, its own (`_lean_handler`), which solves the
        session and the caller in the call."""
        usual = usual_parts(self.dependant) if self._one_trip else None
        if usual is None or (usual.body is not None and not _strict(self.strict_content_type)):
            return super().get_route_handler()
        self._lean = self._lean_handler(self._solving_itself(self.dependant, usual))
        return self._lean

    def _lean_handler(self, lean: Dependant) -> Callable[[Request], Awaitable[Response]]:
        """The route's handler for a call that solves its own session and caller: the path and
        query strings handed over as they come (no check can fail on them, see `usual_parts`),
        the call awaited, and its answer encoded and wrapped as FastAPI's own handler does,
        without the dependency solving, telemetry and streaming cases it goes through for every
        request."""
        call = lean.call
        assert call is not None
        paths = [(f.name, f.alias) for f in lean.path_params]
        queries = [(f.name, f.alias, f.field_info.default) for f in lean.query_params]
        request_name = lean.request_param_name
        # What `usual_parts` lets a usual route declare besides: the raw body (`request_body`).
        raw_bodies = [sub.name for sub in lean.dependencies if sub.call in SESSIONLESS and sub.name]
        if len(raw_bodies) != len(lean.dependencies):
            raise TypeError(f"{self.path}: a dependency the route cannot solve itself")
        response_field, status_code = self.response_field, self.status_code
        response_class = self.response_class
        dump_json = response_field is not None and isinstance(response_class, DefaultPlaceholder)
        encoded_as = (response_class.value if isinstance(response_class, DefaultPlaceholder)
                      else response_class)
        shown: dict[str, Any] = {
            "include": self.response_model_include, "exclude": self.response_model_exclude,
            "by_alias": self.response_model_by_alias,
            "exclude_unset": self.response_model_exclude_unset,
            "exclude_defaults": self.response_model_exclude_defaults,
            "exclude_none": self.response_model_exclude_none}
        status: dict[str, Any] = {} if status_code is None else {"status_code": status_code}

        async def handle(request: Request) -> Response:
            values: dict[str, Any] = {name: request.path_params[alias] for name, alias in paths}
            if queries:
                query = request.query_params
                for name, alias, default in queries:
                    values[name] = query.get(alias, default)
            if request_name is not None:
                values[request_name] = request
            for name in raw_bodies:
                values[name] = await request.body()
            answer = await call(**values)
            if isinstance(answer, Response):
                return answer
            content = await serialize_response(field=response_field, response_content=answer,
                                               is_coroutine=True, dump_json=dump_json, **shown)
            response = (Response(content=content, media_type="application/json", **status)
                        if dump_json else encoded_as(content, **status))
            if not is_body_allowed_for_status_code(response.status_code):
                response.body = b""
            return response

        return handle

    def _solving_itself(self, declared: Dependant, usual: _Usual) -> Dependant:
        """The dependant FastAPI solves for a usual route: its own, less the session and the
        caller, which the call makes itself."""
        handler = declared.call
        assert handler is not None
        signature = get_typed_signature(handler)
        body, model = usual.body, usual.model
        solved = (usual.session, usual.actor, *(() if body is None else (body.name,)))
        kept = [p for p in signature.parameters.values() if p.name not in solved]
        request_name = declared.request_param_name
        if request_name is None:
            request_name = "_ketaclinic_request"
            kept.append(inspect.Parameter(request_name, inspect.Parameter.KEYWORD_ONLY,
                                          annotation=Request))

        async def solving_itself(**values: Any) -> Any:
            request = (values[request_name] if declared.request_param_name
                       else values.pop(request_name))
            async with request_session(request) as db:
                values[usual.session] = db
                values[usual.actor] = await permitted(request, db, usual.permission)
                if model is not None:
                    values[body.name] = await model_body(request, body, model)
                return await handler(**values)

        solving_itself.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=kept)
        return get_dependant(path=self.path_format, call=solving_itself)

    def _in_one_trip(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        async def in_one_trip(**values: Any) -> Any:
            db = next((v for v in values.values() if isinstance(v, Session)), None)
            return await seen_to_its_end(request_threads, self._run, handler, values, db)

        return in_one_trip

    def _run(self, handler: Callable[..., Any], values: dict[str, Any],
             db: Session | None) -> tuple[Any, list[Any]]:
        answer = handler(**values)
        if self.response_field is not None and not isinstance(answer, Response):
            answer, errors = self.response_field.validate(answer, {}, loc=("response",))
            if errors:
                raise ResponseValidationError(errors=errors, body=answer)
        return answer, finish_in_thread(db) if db is not None else []


def _answering(handle: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """The ASGI app of a lean handler: FastAPI's `request_response` opens two exit stacks for
    dependencies with `yield` and catches exceptions for the route's own handlers; a lean route
    has no such dependencies, and what it raises goes to the app's handlers, the same ones."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handle(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


def _strict(setting: Any) -> bool:
    """Whether a route reads a body without a content type as bytes, not JSON (FastAPI's
    `strict_content_type`, the way `web/model_body.py` reads it)."""
    return bool(setting.value if isinstance(setting, DefaultPlaceholder) else setting)


def _any_string(field: Any, optional: bool) -> bool:
    """Whether every value FastAPI could be given for the parameter (a `Dependant`'s field) is
    accepted: a string with no bounds (and, if `optional`, a default for when it is left
    out)."""
    info = field.field_info
    return info.annotation is str and not info.metadata and (not optional
                                                             or not info.is_required())


def usual_parts(dependant: Dependant) -> _Usual | None:
    """Where a route's session, caller and body model go, if it takes nothing FastAPI could
    refuse before them: only string path parameters, string query parameters with a default,
    the request, the raw body or one body model, one session and one `require(...)` gate; None
    otherwise."""
    body = dependant.body_params[0] if len(dependant.body_params) == 1 else None
    model = None if body is None else model_type(body)
    if (dependant.header_params or dependant.cookie_params
            or (dependant.body_params and model is None)
            or dependant.response_param_name or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name
            or not all(_any_string(f, optional=False) for f in dependant.path_params)
            or not all(_any_string(f, optional=True) for f in dependant.query_params)):
        return None
    session = actor = None
    permission: Permission | None = None
    for sub in dependant.dependencies:
        call = sub.call
        required = getattr(call, "required_permission", None)
        if call is get_db and sub.name and session is None:
            session = sub.name
        elif (required is not None and sub.name and actor is None
              and call is require(required)):
            actor, permission = sub.name, required
        elif call not in SESSIONLESS or not sub.name:
            return None
    if session is None or actor is None or permission is None:
        return None
    return _Usual(session, actor, permission, body, model)
