"""A GET whose read transaction could not become a write (SQLite, another writer committed in
between) is run once more as a writer; other methods are never run twice."""

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from ketaclinic.db import ReadBecameStale
from ketaclinic.web import read_retry
from ketaclinic.web.deps import WRITER
from ketaclinic.web.read_retry import RetryStaleReads


@pytest.fixture(autouse=True)
def _on_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_retry, "one_writer_at_a_time", lambda: True)


def _app(calls: list[bool]) -> FastAPI:
    app = FastAPI()
    app.add_middleware(RetryStaleReads)

    @app.api_route("/thing", methods=["GET", "POST"])
    def thing(request: Request) -> dict[str, bool]:
        as_writer = bool(request.scope.get("state", {}).get(WRITER))
        calls.append(as_writer)
        if not as_writer:
            raise ReadBecameStale("stale")
        return {"writer": as_writer}

    return app


def test_a_stale_read_is_run_again_as_a_writer() -> None:
    calls: list[bool] = []
    response = TestClient(_app(calls)).get("/thing")
    assert (response.status_code, response.json(), calls) == (200, {"writer": True},
                                                               [False, True])


def test_a_post_is_never_run_twice() -> None:
    calls: list[bool] = []
    with pytest.raises(ReadBecameStale):
        TestClient(_app(calls)).post("/thing")
    assert calls == [False]


def test_where_reads_never_go_stale_a_get_is_passed_straight_through(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL: no read-first transaction, so nothing to watch or replay
    monkeypatch.setattr(read_retry, "one_writer_at_a_time", lambda: False)
    calls: list[bool] = []
    with pytest.raises(ReadBecameStale):
        TestClient(_app(calls)).get("/thing")
    assert calls == [False]
