"""Ids that begin with the moment they were made (UUID version 7) and land together in an index."""

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ketaclinic.kernel.time_ordered_ids import time_ordered_ids

MOMENT = datetime(2027, 3, 14, 9, 26, 53, 589_793, tzinfo=UTC)


def test_each_id_is_a_version_7_uuid_carrying_the_millisecond_it_was_made() -> None:
    ids = time_ordered_ids(500, MOMENT)
    assert len(set(ids)) == 500
    millis = int((MOMENT - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000)
    for made in ids:
        assert made.version == 7 and made.variant == uuid.RFC_4122
        assert made.int >> 80 == millis
    assert time_ordered_ids(0, MOMENT) == []


def test_ids_made_later_sort_after_earlier_ones_as_uuids_and_as_stored_text() -> None:
    earlier = time_ordered_ids(100, MOMENT)
    later = time_ordered_ids(100, MOMENT + timedelta(milliseconds=1))
    assert max(earlier) < min(later)
    assert max(i.hex for i in earlier) < min(i.hex for i in later)


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(TypeError):
        time_ordered_ids(1, MOMENT.replace(tzinfo=None))


def _log_frames_of_one_batch(connection: sqlite3.Connection, ids: list[uuid.UUID]) -> int:
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany("INSERT INTO reading (id, note) VALUES (?, 'x')",
                           [(i.hex,) for i in ids])
    connection.execute("COMMIT")
    return int(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def test_a_batch_of_time_ordered_ids_writes_a_few_index_pages_where_random_ones_write_many(
        tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "index.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE reading (pk INTEGER PRIMARY KEY, id CHAR(32) UNIQUE, "
                       "note TEXT)")
    history = [uuid.uuid4() for _ in range(20_000)]  # what random ids left before the change
    connection.execute("BEGIN")
    connection.executemany("INSERT INTO reading (id, note) VALUES (?, 'x')",
                           [(i.hex,) for i in history])
    connection.execute("COMMIT")
    batches = [time_ordered_ids(100, MOMENT + timedelta(seconds=n)) for n in range(5)]
    ordered = [_log_frames_of_one_batch(connection, ids) for ids in batches]
    random = [_log_frames_of_one_batch(connection, [uuid.uuid4() for _ in range(100)])
              for _ in range(5)]
    connection.close()
    assert max(ordered) * 4 < min(random), (ordered, random)
