"""A route's blocking work makes one trip to a thread: the handler, the check of its answer
against the response model, and the commit. The check comes before the commit, so an answer that
fails its model commits nothing and a lazily loaded attribute finds its session open."""

import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio.to_thread
import httpx2 as httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import Engine, ForeignKey, event, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from ketaclinic.web.deps import DB
from ketaclinic.web.one_thread import OneTripRoute
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

    async def counted(work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        trips.append(work)
        return await run_sync(work, *args, **kwargs)

    def committed(_db: Session) -> None:
        _saw("commit")

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
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
