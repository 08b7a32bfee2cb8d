"""A route's blocking work makes one trip to a thread: the handler, the check of its answer
against the response model, and the commit. The check comes before the commit, so an answer that
fails its model commits nothing and a lazily loaded attribute finds its session open."""

import inspect
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anyio.to_thread
import fastapi.routing
import httpx2 as httpx
import pytest
from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine, ForeignKey, event, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from ketaclinic.audit.models import AuditEvent
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.web.deps import BODY, DB, require
from ketaclinic.web.fast_json import FastJSONResponse
from ketaclinic.web.model_body import model_body, model_type
from ketaclinic.web.one_thread import OneTripRoute, usual_parts
from ketaclinic.web.routes import registered_routes
from ketaclinic.wire_types import IsoDateTime
from ketaclinic.worker_threads import WorkerThreads
from tests.conftest import BASE_URL
from tests.own_loop import run_in_own_loop

THREADS: dict[str, set[int]] = {}


def _saw(step: str) -> None:
    THREADS.setdefault(step, set()).add(threading.get_ident())


class Stored(BaseModel):
    """What the write answers; its check notes the thread it runs in."""

    stored: bool

    @field_validator("stored")
    @classmethod
    def _checked(cls, value: bool) -> bool:
        _saw("check")
        return value


class Base(DeclarativeBase):
    pass


class Shelf(Base):
    __tablename__ = "shelf"
    pk: Mapped[int] = mapped_column(primary_key=True)
    books: Mapped[list["Book"]] = relationship(lazy="select")


class Book(Base):
    __tablename__ = "book"
    pk: Mapped[int] = mapped_column(primary_key=True)
    shelf_pk: Mapped[int] = mapped_column(ForeignKey("shelf.pk"))
    title: Mapped[str]


class BookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    title: str


class ShelfOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    books: list[BookOut]


def _router() -> APIRouter:
    router = APIRouter(route_class=OneTripRoute)

    @router.post("/notes", response_model=Stored)
    def add_note(db: Session = DB) -> dict[str, object]:
        _saw("handler")
        db.execute(text("INSERT INTO note (n) VALUES (1)"))
        return {"stored": True}

    @router.post("/bad-notes", response_model=Stored)
    def add_bad_note(db: Session = DB) -> dict[str, object]:
        db.execute(text("INSERT INTO note (n) VALUES (2)"))
        return {"stored": "not a yes or no"}

    @router.get("/shelf", response_model=ShelfOut)
    def shelf(db: Session = DB) -> Shelf:
        return db.execute(select(Shelf)).scalar_one()  # its books not loaded yet

    @router.get("/async")
    async def on_the_loop() -> dict[str, str]:
        return {"ran": "on the loop"}

    @router.get("/stream")
    def streamed() -> Iterator[str]:
        yield "one"

    return router


def _app() -> FastAPI:
    app = FastAPI()
    app.include_router(_router())
    return app


async def _call(app: FastAPI, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path)


def _notes(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT n FROM note")).scalars())


def test_the_handler_the_check_of_its_answer_and_the_commit_take_one_trip_to_a_thread(
        sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    THREADS.clear()
    trips = []
    run_sync = anyio.to_thread.run_sync

    submit = WorkerThreads.submit

    async def counted(work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        trips.append(work)
        return await run_sync(work, *args, **kwargs)

    def counted_here(threads: WorkerThreads, work: Callable[..., Any], *args: Any) -> Any:
        trips.append(work)
        return submit(threads, work, *args)

    def committed(_db: Session) -> None:
        _saw("commit")

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    monkeypatch.setattr(WorkerThreads, "submit", counted_here)
    event.listen(Session, "after_commit", committed)
    try:
        answer = run_in_own_loop(lambda: _call(_app(), "POST", "/notes"))
    finally:
        event.remove(Session, "after_commit", committed)
    assert answer.status_code == 200 and answer.json() == {"stored": True}
    assert _notes(sqlite_engine) == [1]
    assert len(trips) == 1
    assert len(THREADS["handler"]) == 1
    assert THREADS["check"] == THREADS["commit"] == THREADS["handler"]


def test_an_answer_that_fails_its_model_commits_nothing(sqlite_engine: Engine) -> None:
    answer = run_in_own_loop(lambda: _call(_app(), "POST", "/bad-notes"))
    assert answer.status_code == 500
    assert _notes(sqlite_engine) == []


def test_a_lazily_loaded_attribute_of_the_answer_finds_its_session_open(
        sqlite_engine: Engine) -> None:
    Base.metadata.create_all(sqlite_engine)
    with Session(sqlite_engine) as db:
        db.add(Shelf(pk=1, books=[Book(title="Ketamine"), Book(title="Esketamine")]))
        db.commit()
    answer = run_in_own_loop(lambda: _call(_app(), "GET", "/shelf"))
    assert answer.status_code == 200
    assert answer.json() == {"books": [{"title": "Ketamine"}, {"title": "Esketamine"}]}


def test_async_and_generator_handlers_are_left_to_fastapi() -> None:
    routes = {r.path: r for r in _router().routes if isinstance(r, APIRoute)}
    assert inspect.unwrap(routes["/notes"].endpoint) is not routes["/notes"].endpoint
    assert routes["/async"].endpoint.__name__ == "on_the_loop"
    assert inspect.unwrap(routes["/async"].endpoint) is routes["/async"].endpoint
    assert inspect.isgeneratorfunction(routes["/stream"].endpoint)


def test_every_route_of_the_app_makes_one_trip() -> None:
    from ketaclinic.app import create_app

    routes = [r for r in create_app().routes if isinstance(r, APIRoute)]
    assert routes and all(isinstance(r, OneTripRoute) for r in routes), [
        r.path for r in routes if not isinstance(r, OneTripRoute)]


def _route(app: FastAPI, method: str, path: str) -> OneTripRoute:
    return next(r for r in app.routes
                if isinstance(r, OneTripRoute) and r.path == path and method in r.methods)


def test_the_usual_routes_solve_their_session_and_caller_themselves(app: FastAPI) -> None:
    solving = {path: usual_parts(_route(app, "GET", path).dependant) for path in (
        "/api/v1/patients/{patient_id}", "/fhir/{resource_type}/{resource_id}",
        "/fhir/{resource_type}")}
    assert {path: (u.session, u.actor, u.permission) if u else None
            for path, u in solving.items()} == {
        "/api/v1/patients/{patient_id}": ("db", "actor", Permission.DEMOGRAPHICS_READ),
        "/fhir/{resource_type}/{resource_id}": ("db", "actor", Permission.CLINICAL_READ),
        "/fhir/{resource_type}": ("db", "actor", Permission.CLINICAL_READ)}
    # What FastAPI could refuse before the caller is known leaves the route to FastAPI.
    assert usual_parts(_route(app, "GET", "/api/v1/treatment-sessions/{treatment_session_id}")
                 .dependant) is None  # a query parameter with bounds
    batch = usual_parts(_route(app, "POST",
                               "/api/v1/treatment-sessions/{treatment_session_id}/vitals").dependant)
    assert batch is not None and batch.body.name == "data"  # a body model, read after the caller
    assert usual_parts(_route(app, "POST", "/fhir/{resource_type}").dependant)  # ?site=
    # The route's declared dependencies are still what is documented and listed.
    listed = {(r.method, r.path): r.permission for r in registered_routes(app)}
    assert listed[("GET", "/api/v1/patients/{patient_id}")] == Permission.DEMOGRAPHICS_READ


def test_a_usual_route_refuses_and_audits_as_its_dependencies_would(
        app: FastAPI, api: dict[str, Any], anon: Any, world: Any, db: Session) -> None:
    path = f"/api/v1/patients/{world.patients['p_a1']}/evaluations"
    assert usual_parts(_route(app, "GET", "/api/v1/patients/{patient_id}/evaluations").dependant)
    assert anon.get(path).status_code == 401
    refused = api["frontdesk"].get(path)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "Your role (front_desk) may not do this (patient.clinical.read).")
    last = db.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    assert (last.action, last.created_by) == ("denied", "frontdesk")
    assert api["nurse_a"].get(path).status_code == 200
    read = db.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    assert (read.action, read.created_by) == ("read", "nurse_a")


def test_a_route_left_to_fastapi_still_checks_the_caller_before_its_parameters(
        anon: Any) -> None:
    answer = anon.get(f"/api/v1/treatment-sessions/{uuid.uuid4()}", params={"readings_limit": 0})
    assert answer.status_code == 401


def test_a_query_parameter_fastapi_could_refuse_leaves_the_route_to_fastapi() -> None:
    router = APIRouter(route_class=OneTripRoute)
    gate = Depends(require(Permission.CLINICAL_READ))

    @router.get("/optional")
    def optional(site: str = "", actor: Actor = gate, db: Session = DB) -> None:
        return None

    @router.get("/required")
    def required(site: str, actor: Actor = gate, db: Session = DB) -> None:
        return None

    @router.get("/counted")
    def counted(count: int = 1, actor: Actor = gate, db: Session = DB) -> None:
        return None

    routes = {r.path: r for r in router.routes if isinstance(r, OneTripRoute)}
    assert usual_parts(routes["/optional"].dependant) is not None
    assert usual_parts(routes["/required"].dependant) is None  # refused when left out
    assert usual_parts(routes["/counted"].dependant) is None  # refused when not a number


def test_a_body_model_is_read_once_the_caller_is_known(api: dict[str, Any], anon: Any) -> None:
    path = f"/api/v1/treatment-sessions/{uuid.uuid4()}/vitals"
    broken = {"content": b'{"readings": [', "headers": {"Content-Type": "application/json"}}
    assert anon.post(path, **broken).status_code == 401  # whatever they sent
    refused = api["nurse_a"].post(path, **broken)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{
        "field": "body", "message": "is not JSON (Expecting value at character 14)",
        "accepted": "a JSON object"}]
    wrong = api["nurse_a"].post(path, json={"readings": [{"systolic_mmhg": "high"}]})
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["readings.0.systolic_mmhg"]
    assert api["nurse_a"].post(path, json={"readings": [{"systolic_mmhg": 120}]}
                               ).status_code == 404  # read, then the session looked for


class Dispensed(BaseModel):
    """A model with the kinds of field the app's bodies have: a decimal, a time, text, a list."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    quantity_mg: Decimal = Field(gt=0, le=100000, decimal_places=3)
    at: IsoDateTime | None = None
    note: str = Field(default="", max_length=10)
    lots: list[int] = Field(default_factory=list, max_length=2)


BODIES = [
    ("application/json", b'{"quantity_mg": 12.5, "at": "2026-01-05T10:00:00+01:00", "note": " x "}'),
    ("application/json", b'{"quantity_mg": 1e2, "lots": [1, 2.0]}'),
    ("application/fhir+json; charset=utf-8", b'{"quantity_mg": "3.250"}'),
    ("application/json", b'{"quantity_mg": 1.0005}'),
    ("application/json", b'{"quantity_mg": 5, "at": 1700000000}'),
    ("application/json", b'{"quantity_mg": 5, "extra": true}'),
    ("application/json", b'{"quantity_mg": 5, "note": "far too long a note", "lots": [1, 2, 3]}'),
    ("application/json", b'{"quantity_mg": NaN}'),
    ("application/json", b'{"quantity_mg": 5, "quantity_mg": 6}'),
    ("application/json", b'[1, 2]'),
    ("application/json", b'{"quantity_mg": '),
    ("application/json", b'\xff\xfe{'),
    ("application/json", b''),
    ("text/plain", b'{"quantity_mg": 5}'),
    ("application/x-www-form-urlencoded", b'quantity_mg=5'),
    (None, b'{"quantity_mg": 5}'),
]


def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"errors": [{k: e.get(k) for k in ("type", "loc", "msg", "ctx")}
                                    for e in exc.errors()]}, status_code=422)


def _body_apps(received: list[Dispensed]) -> tuple[FastAPI, FastAPI]:
    """The same model body read by FastAPI, and by `model_body` in a route of its own; each
    keeps what it read, and answers a refusal with what the app's problem answer is made from."""
    fastapi_reads = FastAPI(exception_handlers={RequestValidationError: _refused})

    @fastapi_reads.post("/dispense")
    def dispense(data: Dispensed) -> None:
        received.append(data)

    field = next(r for r in fastapi_reads.routes if isinstance(r, APIRoute)
                 ).dependant.body_params[0]
    assert model_type(field) is Dispensed
    ours = FastAPI(exception_handlers={RequestValidationError: _refused})

    @ours.post("/dispense")
    async def read_by_us(request: Request) -> None:
        received.append(await model_body(request, field, Dispensed))

    return fastapi_reads, ours


@pytest.mark.parametrize(("content_type", "body"), BODIES)
def test_a_body_model_is_read_as_fastapi_reads_it(content_type: str | None, body: bytes) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    received: list[Dispensed] = []

    async def both() -> list[tuple[int, Any]]:
        answers = []
        for app in _body_apps(received):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                answer = await client.post("/dispense", content=body, headers=headers)
            answers.append((answer.status_code, answer.text))
        return answers

    fastapi_answer, our_answer = run_in_own_loop(both)
    assert our_answer == fastapi_answer
    # read alike: equal values (a decimal written 1e2 is 100 read from its text, 100.0 through
    # a float; the same quantity)
    assert len(received) in (0, 2) and received[:1] == received[1:]


def test_a_body_model_with_more_declared_is_left_to_fastapi() -> None:
    router = APIRouter(route_class=OneTripRoute)
    gate = Depends(require(Permission.CLINICAL_WRITE))

    @router.post("/embedded")
    def embedded(data: Dispensed = Body(embed=True), actor: Actor = gate, db: Session = DB
                 ) -> None:
        return None

    @router.post("/optional")
    def optional(data: Dispensed | None = None, actor: Actor = gate, db: Session = DB) -> None:
        return None

    @router.post("/plain")
    def plain(data: Dispensed, actor: Actor = gate, db: Session = DB) -> None:
        return None

    routes = {r.path: r for r in router.routes if isinstance(r, OneTripRoute)}
    assert usual_parts(routes["/embedded"].dependant) is None
    assert usual_parts(routes["/optional"].dependant) is None
    assert usual_parts(routes["/plain"].dependant) is not None


class ItemOut(BaseModel):
    id: str
    kind: str
    note: str | None = None
    seen_at: datetime | None = None


class SolvedByFastAPI(OneTripRoute):
    """The same route with FastAPI's own handler solving what the lean call leaves it."""

    def _lean_handler(self, lean: Any) -> Any:
        declared, body_field = self.dependant, self.body_field
        self.dependant, self.body_field = lean, None
        try:
            return APIRoute.get_route_handler(self)
        finally:
            self.dependant, self.body_field = declared, body_field


def _usual_routes(route_class: type[OneTripRoute]) -> FastAPI:
    router = APIRouter(route_class=route_class)
    reader, writer = (Depends(require(Permission.CLINICAL_READ)),
                      Depends(require(Permission.CLINICAL_WRITE)))
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    @router.get("/items/{item_id}", response_model=ItemOut)
    def item(item_id: str, kind: str = Query("plain", alias="_kind"), actor: Actor = reader,
             db: Session = DB) -> dict[str, object]:
        return {"id": item_id, "kind": kind, "seen_at": when, "unlisted": "dropped"}

    @router.get("/items/{item_id}/lean", response_model=ItemOut, response_model_exclude_none=True)
    def lean_item(item_id: str, actor: Actor = reader, db: Session = DB) -> ItemOut:
        return ItemOut(id=item_id, kind="lean")

    @router.get("/fast/{item_id}", response_model=ItemOut, response_class=FastJSONResponse)
    def fast(item_id: str, actor: Actor = reader, db: Session = DB) -> dict[str, object]:
        return {"id": item_id, "kind": "fast", "note": "é", "seen_at": when}

    @router.get("/plain")
    def plain(actor: Actor = reader, db: Session = DB) -> dict[str, object]:
        return {"at": when, "key": uuid.UUID(int=7), "sum": Decimal("1.50"), "who": actor.role}

    @router.post("/items", response_model=ItemOut, status_code=201)
    def add(data: Dispensed, actor: Actor = writer, db: Session = DB) -> dict[str, object]:
        return {"id": "new", "kind": str(data.quantity_mg)}

    @router.post("/raw", status_code=202)
    def raw(body: bytes = BODY, actor: Actor = writer, db: Session = DB) -> dict[str, int]:
        return {"bytes": len(body)}

    @router.post("/quiet/{item_id}", status_code=204)
    def quiet(item_id: str, actor: Actor = writer, db: Session = DB) -> None:
        return None

    @router.get("/text")
    def as_text(actor: Actor = reader, db: Session = DB) -> PlainTextResponse:
        return PlainTextResponse("as it is", headers={"X-Kept": "yes"}, status_code=203)

    @router.get("/gone/{item_id}")
    def gone(item_id: str, actor: Actor = reader, db: Session = DB) -> None:
        raise HTTPException(status_code=410, detail=f"{item_id} is gone",
                            headers={"X-Reason": "moved"})

    app = FastAPI()
    app.include_router(router, prefix="/api/v1/usual")  # an API path: the caller shows a token
    return app


USUAL_CALLS = [
    ("GET", "/items/a1", {}, b""), ("GET", "/items/a1?_kind=other&_kind=last", {}, b""),
    ("GET", "/items/a1?kind=ignored", {}, b""), ("GET", "/items/%C3%A9%20x", {}, b""),
    ("GET", "/items/a1/lean", {}, b""), ("GET", "/fast/a1", {}, b""), ("GET", "/plain", {}, b""),
    ("POST", "/items", {"Content-Type": "application/json"}, b'{"quantity_mg": "2.5"}'),
    ("POST", "/items", {"Content-Type": "application/json"}, b'{"quantity_mg": -1}'),
    ("POST", "/raw", {"Content-Type": "text/plain"}, b"twelve bytes"),
    ("POST", "/quiet/a1", {}, b""), ("GET", "/text", {}, b""), ("GET", "/gone/a1", {}, b""),
]


def test_a_usual_route_answers_as_fastapis_handler_would(api: dict[str, Any], anon: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    token = api["nurse_a"].headers["Authorization"]
    solved = []
    solve = fastapi.routing.solve_dependencies

    async def counted(**kwargs: Any) -> Any:
        solved.append(kwargs["dependant"].call)
        return await solve(**kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    answers: dict[type, list[tuple[int, str | None, str | None, bytes]]] = {}
    for route_class in (OneTripRoute, SolvedByFastAPI):
        client = TestClient(_usual_routes(route_class), base_url=BASE_URL)
        answers[route_class] = [
            (a.status_code, a.headers.get("content-type"), a.headers.get("x-reason"), a.content)
            for method, path, headers, body in USUAL_CALLS
            for a in [client.request(method, "/api/v1/usual" + path, content=body,
                                     headers={**headers, "Authorization": token})]]
        solved_by_fastapi = len(solved)
        solved.clear()
        assert (solved_by_fastapi == 0) == (route_class is OneTripRoute)
    assert answers[OneTripRoute] == answers[SolvedByFastAPI]
    assert [status for status, *_ in answers[OneTripRoute]] == [
        200, 200, 200, 200, 200, 200, 200, 201, 422, 202, 204, 203, 410]
