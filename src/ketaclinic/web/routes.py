"""Listing every route the app serves with the permission and CSRF check guarding it."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from ketaclinic.kernel.permissions import Permission
from ketaclinic.web.csrf import check_csrf


@dataclass(frozen=True)
class RegisteredRoute:
    """One (method, path) the app answers, and what guards it."""

    method: str
    path: str
    permission: Permission | None
    csrf_checked: bool
    is_mount: bool = False


def _calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    for sub in getattr(dependant, "dependencies", []):
        yield sub.call
        yield from _calls(sub)


def registered_routes(app: FastAPI) -> list[RegisteredRoute]:
    """Every route of the app, included routers flattened."""
    found = []
    for context in iter_route_contexts(app.routes):
        methods = context.methods
        if methods is None:
            found.append(RegisteredRoute("GET", str(context.path), None, False, is_mount=True))
            continue
        calls = list(_calls(getattr(context, "dependant", None)))
        permissions = [c.required_permission for c in calls if hasattr(c, "required_permission")]
        for method in sorted(methods):
            found.append(RegisteredRoute(method, str(context.path),
                                         permissions[0] if permissions else None,
                                         check_csrf in calls))
    return found
