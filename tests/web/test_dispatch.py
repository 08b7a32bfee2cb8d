"""Dispatch by leading segments picks the route the whole list picks, for every route the app
serves and for paths no route serves."""

import re
import uuid

import pytest
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from ketaclinic.app import create_app
from ketaclinic.web.dispatch import PrefixDispatch, could_match, leading_segments, literal_start

SAMPLES = {"uuid": str(uuid.UUID(int=7)), "int": "7", "float": "1.5", "path": "a/b",
           "str": "sample"}
_PARAMETER = re.compile(r"{(\w+)(?::(\w+))?}")


def _concrete(template: str) -> str:
    return _PARAMETER.sub(lambda found: SAMPLES[found.group(2) or "str"], template)


def _scope(path: str, method: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
            "query_string": b""}


def _chosen(routes: list[BaseRoute], scope: Scope) -> tuple[Match, BaseRoute | None]:
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return match, route
        if match == Match.PARTIAL and partial is None:
            partial = route
    return (Match.PARTIAL, partial) if partial else (Match.NONE, None)


def _paths(routes: list[BaseRoute]) -> list[str]:
    found = []
    for route in routes:
        path = _concrete(str(getattr(route, "path", "")))
        found += [path, path + "/", path + "/more", path.rstrip("/") + "x"]
    return [*found, "/", "/nowhere", "/api/v1/nowhere", "/fhir/Nothing/1", "//", "/api//v1"]


@pytest.fixture(scope="module")
def dispatch() -> PrefixDispatch:
    app = create_app()
    assert isinstance(app.router.middleware_stack, PrefixDispatch)
    return app.router.middleware_stack


def test_every_path_gets_the_route_the_whole_list_gives(dispatch: PrefixDispatch) -> None:
    routes = dispatch.router.routes
    checked = 0
    for path in _paths(routes):
        for method in ("GET", "POST", "DELETE"):
            scope = _scope(path, method)
            view = dispatch.view(leading_segments(path))
            assert _chosen(view.routes, scope) == _chosen(routes, scope), (method, path)
            checked += 1
    assert checked > 1000


def test_a_view_holds_far_fewer_routes_than_the_app(dispatch: PrefixDispatch) -> None:
    every = len(dispatch.router.routes)
    assert len(dispatch.view(leading_segments("/fhir/Patient/1")).routes) < every / 5
    assert len(dispatch.view(leading_segments("/api/v1/patients/1")).routes) < every / 5


@pytest.mark.parametrize(("template", "start"), [
    ("/fhir/Patient/{id}", ("fhir", "Patient")),
    ("/api/v1/patients/{patient_id}/vitals", ("api", "v1", "patients")),
    ("/{anything:path}", ()),
    ("/files/{name}.json", ("files",)),
    ("/", ()),
])
def test_literal_start(template: str, start: tuple[str, ...]) -> None:
    assert literal_start(template) == start


def test_could_match_compares_the_shorter() -> None:
    assert could_match(("fhir",), ("fhir", "Patient", "1"))
    assert could_match(("fhir", "metadata"), ("fhir",))
    assert not could_match(("fhir", "metadata"), ("fhir", "Patient"))
    assert could_match((), ("anything",))


def test_pages_still_name_routes_of_the_whole_app(anon: object) -> None:
    # url_for in a page reaches routes outside the request's group (static files, other pages)
    answer = anon.get("/login")  # type: ignore[attr-defined]
    assert answer.status_code == 200
    assert "/static/" in answer.text
