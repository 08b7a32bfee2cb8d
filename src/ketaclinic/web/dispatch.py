"""Route dispatch by the path's leading segments: the router tries only the routes whose literal
start can match the request's path, in their registered order, instead of every one of ~400
(a FHIR read used to try most of them before its own, about 1 ms a request).

The answer is the router's own: for each group of requests sharing their leading segments, a
copy of the router holding just the routes that could match them runs the router's usual
matching (first full match, else first partial match, slash redirects, 404). Routes left out of
a copy cannot match a path of its group, so the chosen route is the one the whole list gives."""

import copy
import re
from collections.abc import Iterable
from functools import lru_cache

from fastapi import FastAPI
from fastapi.routing import APIRouter
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

# How many leading segments tell routes apart: /api/v1/<kind> and /fhir/<type> need three.
DEPTH = 3
# Groups of requests remembered; a path outside every route's start shares the empty group's copy.
REMEMBERED_GROUPS = 512
_PARAMETER = re.compile(r"[{}]")


def literal_start(path: str) -> tuple[str, ...]:
    """The segments of a route's path template before its first parameter, at most DEPTH."""
    start = []
    for segment in path.strip("/").split("/")[:DEPTH]:
        if not segment or _PARAMETER.search(segment):
            break
        start.append(segment)
    return tuple(start)


def leading_segments(path: str) -> tuple[str, ...]:
    """The request path's first DEPTH segments (a trailing empty one dropped)."""
    return tuple(segment for segment in path.strip("/").split("/")[:DEPTH])


def could_match(start: tuple[str, ...], leading: tuple[str, ...]) -> bool:
    """Whether a route whose template starts with `start` could match a path starting `leading`
    (the shorter decides: `/fhir/metadata` with `/fhir`, or `/fhir` with `/fhir/`)."""
    shared = min(len(start), len(leading))
    return start[:shared] == leading[:shared]


def _route_path(route: BaseRoute) -> str:
    return str(getattr(route, "path", ""))


class PrefixDispatch:
    """The router's dispatch over the routes that could match (see the module's docstring)."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.starts = [(literal_start(_route_path(route)), route) for route in router.routes]
        self.view = lru_cache(maxsize=REMEMBERED_GROUPS)(self._view)

    def _view(self, leading: tuple[str, ...]) -> APIRouter:
        view = copy.copy(self.router)
        view.routes = [route for start, route in self.starts if could_match(start, leading)]
        return view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.router.app(scope, receive, send)
            return
        # url_for in pages and redirects names routes of the whole app, not of the copy
        scope.setdefault("router", self.router)
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        await self.view(leading_segments(path)).app(scope, receive, send)


def flatten_into(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Add each router's routes (their paths already carry the router's prefix) to the app in
    order, then dispatch by leading segments. FastAPI's `include_router` nests each router and
    matches through every one in turn; flat routes under `PrefixDispatch` answer the same."""
    for router in routers:
        app.router.routes.extend(router.routes)
    app.router.middleware_stack = PrefixDispatch(app.router)
