"""Long-running processes settle the garbage collector after start (ketaclinic.collector): what
start-up built is frozen out of later collections, young collections come less often, and the
MLLP listener does so before it takes its first message, as each server process does."""

import gc
from collections.abc import Iterator

import pytest

from ketaclinic import cli, collector, db
from ketaclinic.integrations import mllp_listener
from tests.own_loop import in_own_thread


@pytest.fixture()
def restored_collector() -> Iterator[None]:
    """The collector's frozen objects and thresholds put back after the test."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settling_freezes_what_start_up_built_and_makes_young_collections_rarer(
        restored_collector: None) -> None:
    built_at_start = [object() for _ in range(10)]
    gc.unfreeze()
    collector.settle_after_start()
    assert gc.get_freeze_count() >= len(built_at_start)
    assert gc.get_threshold()[0] == collector.YOUNG_COLLECTION_EVERY


def test_the_mllp_listener_settles_the_collector_before_it_serves(
        restored_collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []

    async def serve(host: str, port: int) -> None:
        steps.append(f"serve {host}:{port}")

    monkeypatch.setattr(collector, "settle_after_start", lambda: steps.append("settle"))
    monkeypatch.setattr(mllp_listener, "serve", serve)
    monkeypatch.setattr(db, "get_engine", lambda: None)
    monkeypatch.setattr(cli.wal_checkpoints, "start_in_background", lambda *_: None)
    # the command starts its own event loop, which a browser test's loop in this thread refuses
    in_own_thread(lambda: cli.mllp(host="127.0.0.1", port=2575))
    assert steps == ["settle", "serve 127.0.0.1:2575"]
