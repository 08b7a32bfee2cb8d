"""SQLite takes one writer at a time. Writing requests queue on the event loop, not in request
threads: with more writers than threads, a writer holding the write lock still finds a thread to
check its response and commit. A read that begins to write while another transaction writes is
run again as a writer at once rather than waiting in its thread."""

import asyncio
import time

import anyio.to_thread
import httpx2 as httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ketaclinic.db import READ_FIRST, ReadBecameStale
from ketaclinic.web.deps import DB
from ketaclinic.web.read_retry import RetryStaleReads
from tests.own_loop import run_in_own_loop

WRITERS, REQUEST_THREADS = 8, 2


class Stored(BaseModel):
    """What a write answers (a response model: FastAPI checks it in a request thread)."""

    stored: bool


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RetryStaleReads)

    @app.post("/notes", response_model=Stored)
    def add_note(db: Session = DB) -> Stored:
        db.execute(text("INSERT INTO note (n) VALUES (1)"))
        time.sleep(0.02)  # holds the write lock a moment, as real work does
        return Stored(stored=True)

    return app


async def _post_all(app: FastAPI) -> list[int]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with anyio.fail_after(20):
            answers = await asyncio.gather(*(client.post("/notes") for _ in range(WRITERS)))
    return [answer.status_code for answer in answers]


def test_more_writers_than_request_threads_all_commit(sqlite_engine: Engine) -> None:
    app = _app()
    assert run_in_own_loop(lambda: _post_all(app)) == [200] * WRITERS
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM note")).scalar_one() == WRITERS


def test_a_read_that_begins_to_write_while_another_writes_is_rerun_at_once(
        sqlite_engine: Engine) -> None:
    reader = sqlite_engine.execution_options(**{READ_FIRST: True})
    with sqlite_engine.connect() as writer, reader.connect() as reading:
        writer.begin()
        writer.execute(text("INSERT INTO note (n) VALUES (1)"))  # holds the turn
        reading.begin()
        assert reading.execute(text("SELECT count(*) FROM note")).scalar_one() == 0
        started = time.monotonic()
        with pytest.raises(ReadBecameStale):
            reading.execute(text("INSERT INTO note (n) VALUES (2)"))
        assert time.monotonic() - started < 1, "it did not wait for the turn"
