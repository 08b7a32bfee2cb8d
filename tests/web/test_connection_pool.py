"""Under more concurrent requests than the pool keeps connections, a server process opens none
beyond its pool: a connection opened for one request and closed after is, on PostgreSQL, a new
server process each time (16 clients on a pool of 10 with overflow halved the audited read's
rate)."""

import asyncio
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

from ketaclinic import db as dbmod
from ketaclinic.app import lifespan
from ketaclinic.audit import service as audit
from ketaclinic.db import make_engine
from ketaclinic.kernel.actor import Actor
from ketaclinic.migrate import upgrade
from ketaclinic.settings import get_settings
from ketaclinic.web import problems
from ketaclinic.web.deps import DB
from ketaclinic.web.one_thread import OneTripRoute
from tests.own_loop import run_in_own_loop
from tests.web.conftest import engine_of_the_process

POOL = 4
CLIENTS = 12
READER = Actor(username="nurse", role="nurse")


@pytest.fixture
def small_pool(empty_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The process-wide engine on a new, migrated database, keeping POOL connections (either
    back end), its sealer running often, as a busy server's does."""
    monkeypatch.setattr(dbmod, "SQLITE_POOL_SIZE", POOL)
    monkeypatch.setenv("KETACLINIC_DB_POOL_SIZE", str(POOL))
    monkeypatch.setenv("KETACLINIC_AUDIT_SEAL_EVERY_S", "0.05")
    monkeypatch.setenv("KETACLINIC_DEMO", "0")
    get_settings.cache_clear()
    engine = make_engine(empty_database)
    upgrade(engine)
    try:
        with engine_of_the_process(engine):
            yield engine
    finally:
        get_settings.cache_clear()


def _app() -> FastAPI:
    router = APIRouter(route_class=OneTripRoute)

    @router.get("/slow-read")
    def slow_read(db: Session = DB) -> dict[str, int]:
        value = db.execute(text("SELECT 1")).scalar_one()
        time.sleep(0.05)  # the connection stays checked out, as a longer read's would
        audit.record(db=db, actor=READER, action="read", record_type="Patient", record_id="1")
        return {"value": value}

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    return app


def test_more_clients_than_pooled_connections_open_no_connection_beyond_the_pool(
        small_pool: Engine) -> None:
    opened: list[object] = []
    event.listen(small_pool, "connect", lambda conn, _record: opened.append(conn))
    app = _app()

    async def load() -> list[int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                answers = await asyncio.gather(*(client.get("/slow-read")
                                                 for _ in range(CLIENTS * 3)))
        return [answer.status_code for answer in answers]

    assert run_in_own_loop(load) == [200] * (CLIENTS * 3)
    assert len(opened) <= POOL


def test_a_request_that_finds_no_connection_free_is_told_to_come_back(
        empty_database: str) -> None:
    configured = make_engine(empty_database)  # its URL names the driver
    engine = create_engine(configured.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    configured.dispose()
    app = _app()
    problems.install(app)
    with engine_of_the_process(engine):
        held = engine.connect()  # the pool's one connection, busy
        try:
            busy = TestClient(app).get("/slow-read")
        finally:
            held.close()
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
        assert busy.json()["title"] == "Busy" and "nothing was saved" in busy.json()["detail"]


def test_a_request_whose_connection_was_lost_is_told_to_come_back_and_the_next_reconnects(
        one_connection_postgres: Engine) -> None:
    engine = one_connection_postgres
    router = APIRouter(route_class=OneTripRoute)

    @router.get("/backend")
    def backend(db: Session = DB) -> dict[str, int]:
        return {"pid": db.execute(text("SELECT pg_backend_pid()")).scalar_one()}

    app = FastAPI()
    app.include_router(router)
    problems.install(app)
    client = TestClient(app)
    with engine_of_the_process(engine):
        ended = client.get("/backend").json()["pid"]
        with create_engine(engine.url).connect() as other:  # the server ends it, in use
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": ended})
        lost = client.get("/backend")  # given back a moment ago: used without a check
        assert lost.status_code == 503 and lost.headers["Retry-After"] == "2"
        assert lost.json()["title"] == "Database unavailable"
        again = client.get("/backend")
        assert again.status_code == 200 and again.json()["pid"] != ended
