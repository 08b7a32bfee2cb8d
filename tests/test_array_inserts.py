"""Rows inserted as one array a column (ketaclinic.array_inserts, PostgreSQL) are stored as a Core
insert of the same rows stores them: values converted by their columns' types, scalar defaults
filled in, a value too long for its column refused rather than cut. `insert_rows` stores rows so
on either back end, and so does `db.insert_columns` (arrays on PostgreSQL, the driver's
executemany elsewhere)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Engine, Table, event, insert, select
from sqlalchemy.exc import DataError

from ketaclinic import migrate
from ketaclinic.array_inserts import insert_arrays, insert_rows
from ketaclinic.binary_arrays import PackedArray
from ketaclinic.db import insert_columns, make_engine
from ketaclinic.treatments.models import MonitorMessage, text_digest

INBOX = cast(Table, MonitorMessage.__table__)
MOMENT = datetime(2026, 3, 2, 14, 5, 9, 123456, tzinfo=UTC)


def _row(number: int) -> dict[str, Any]:
    raw = f"MSH|^~\\&|GW|ICU\rOBX|{number}|NM|8480-6^Systolic^LN||128|mm[Hg]"
    return {"id": uuid.uuid4(), "created_at": MOMENT, "updated_at": MOMENT,
            "created_by": "mllp", "received_at": MOMENT + timedelta(seconds=number),
            "peer": f"10.0.0.{number}:4100", "control_id": f"MSG{number}",
            "raw": raw, "raw_digest": text_digest(raw),
            "status": "rejected" if number % 2 else "unmatched", "ack_code": "AE",
            "review_note": "na\u00efve note \u2013 with \u201cquotes\u201d" if number == 1 else "",
            "site_pk": None, "chair_pk": None}


def _stored(engine: Engine, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(INBOX).where(INBOX.c.id.in_(ids))).mappings().all()
    by_id = {row["id"]: dict(row) for row in rows}
    return [{k: v for k, v in by_id[i].items() if k not in ("pk", "id")} for i in ids]


def test_rows_inserted_as_arrays_are_stored_as_a_core_insert_stores_them(
        migrated_postgres: Engine) -> None:
    # left out: the reason (a column default the model gives, none the table does)
    arrayed, inserted = ([{k: v for k, v in _row(n).items() if k != "reason"} for n in range(3)]
                         for _ in range(2))
    with migrated_postgres.begin() as connection:
        keys = insert_arrays(connection, INBOX, {name: [row[name] for row in arrayed]
                                                 for name in arrayed[0]}, ("id", "pk"))
        connection.execute(insert(INBOX), inserted)
    assert {key for key, _ in keys} == {row["id"] for row in arrayed}
    assert len({pk for _, pk in keys}) == 3
    stored = _stored(migrated_postgres, [row["id"] for row in arrayed])
    assert stored == _stored(migrated_postgres, [row["id"] for row in inserted])
    assert [row["reason"] for row in stored] == [""] * 3


def test_a_value_too_long_for_its_column_is_refused_not_cut(migrated_postgres: Engine) -> None:
    row = {**_row(0), "peer": "x" * 101}
    with pytest.raises(DataError), migrated_postgres.begin() as connection:
        insert_arrays(connection, INBOX, {name: [value] for name, value in row.items()})
    assert _stored(migrated_postgres, []) == []


def test_rows_inserted_on_either_back_end_are_stored_and_their_keys_returned(
        empty_database: str) -> None:
    engine = make_engine(empty_database)
    migrate.upgrade(engine)
    rows = [_row(n) for n in range(4)]
    try:
        with engine.begin() as connection:
            keys = dict(insert_rows(connection, INBOX, rows, ("id", "pk")))
            insert_rows(connection, INBOX, [_row(9)])  # nothing asked back
        assert set(keys) == {row["id"] for row in rows} and len(set(keys.values())) == 4
        with engine.connect() as connection:
            stored = dict(connection.execute(select(INBOX.c.id, INBOX.c.control_id)).all())
        assert {stored[row["id"]] for row in rows} == {f"MSG{n}" for n in range(4)}
        assert "MSG9" in stored.values() and len(stored) == 5
    finally:
        engine.dispose()


def test_rows_given_by_column_are_stored_as_a_core_insert_stores_them(
        empty_database: str) -> None:
    # the values every row shares given once; a column of nothing but None; text that is not
    # ASCII; on PostgreSQL one statement of arrays, elsewhere the driver's executemany
    engine = make_engine(empty_database)
    migrate.upgrade(engine)
    shared = ("created_at", "updated_at", "created_by", "site_pk", "ack_code")
    by_column, inserted = ([{**_row(n), "reason": "no session"} for n in range(3)]
                           for _ in range(2))
    try:
        with engine.begin() as connection:
            insert_columns(connection, INBOX,
                           {name: [row[name] for row in by_column]
                            for name in by_column[0] if name not in shared},
                           {name: by_column[0][name] for name in shared})
            connection.execute(insert(INBOX), inserted)
        stored = _stored(engine, [row["id"] for row in by_column])
        assert stored == _stored(engine, [row["id"] for row in inserted])
        assert [row["control_id"] for row in stored] == ["MSG0", "MSG1", "MSG2"]
        assert stored[1]["review_note"].startswith("na\u00efve")
    finally:
        engine.dispose()


def test_the_values_every_row_shares_are_sent_once_not_as_arrays(
        migrated_postgres: Engine) -> None:
    shared = ("created_at", "updated_at", "created_by", "site_pk", "ack_code", "reason")
    rows = [{**_row(n), "reason": "no session"} for n in range(3)]
    sent: list[dict[str, Any]] = []

    def listener(_conn, _cursor, _statement, parameters, *_rest) -> None:
        sent.append(parameters)

    with migrated_postgres.begin() as connection:
        event.listen(connection, "before_cursor_execute", listener)
        insert_columns(connection, INBOX, {name: [row[name] for row in rows]
                                           for name in rows[0] if name not in shared},
                       {name: rows[0][name] for name in shared})
        event.remove(connection, "before_cursor_execute", listener)
    (parameters,) = sent
    assert {name for name, value in parameters.items()
            if isinstance(value, list | PackedArray)} == set(rows[0]) - set(shared)
    assert {name: parameters[name] for name in shared if name != "created_at"} == {
        "updated_at": MOMENT, "created_by": "mllp", "site_pk": None, "ack_code": "AE",
        "reason": "no session"}
    stored = _stored(migrated_postgres, [row["id"] for row in rows])
    assert [(row["control_id"], row["reason"], row["created_at"]) for row in stored] == [
        (f"MSG{n}", "no session", MOMENT) for n in range(3)]
