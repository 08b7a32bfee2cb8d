"""Arrays packed in PostgreSQL's binary format (ketaclinic.binary_arrays) read back on the server
as the values they were packed from, NULLs, NaN, infinities and signed zeros included; values a
packer does not take go to psycopg as before, which refuses what it must."""

import math
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Table, event, select

from ketaclinic.array_inserts import insert_arrays
from ketaclinic.binary_arrays import PackedArray, float8_array, packed, uuid_array
from ketaclinic.treatments.models import SessionReading
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL")

FLOATS = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64),
                   st.integers(min_value=-(2 ** 53), max_value=2 ** 53))
IDS = st.one_of(st.none(), st.uuids())


@pytest.fixture(scope="module")
def server() -> Any:
    with psycopg.connect(PG_URL, autocommit=True) as connection:
        yield connection


def _read_back(connection: Any, cast: str, value: Any) -> Any:
    return connection.execute(f"SELECT %(a)b::{cast}[]", {"a": value}).fetchone()[0]


def _same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a):
        return math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


@settings(max_examples=150, deadline=None)
@given(st.lists(FLOATS, max_size=120))
def test_packed_floats_read_back_as_they_were(server: Any, values: list[Any]) -> None:
    stored = _read_back(server, "FLOAT", float8_array(values))
    assert len(stored) == len(values)
    assert all(_same_float(s, None if v is None else float(v))
               for s, v in zip(stored, values, strict=True))


@settings(max_examples=100, deadline=None)
@given(st.lists(IDS, max_size=120))
def test_packed_ids_read_back_as_they_were(server: Any, values: list[uuid.UUID | None]) -> None:
    assert _read_back(server, "UUID", uuid_array(values)) == values


def test_the_packed_bytes_are_what_psycopg_sends_for_the_same_list(server: Any) -> None:
    values = [120.5, None, -0.0, float("inf"), 98]
    sent_by_psycopg = server.execute("SELECT array_send(%(a)b::FLOAT[])",
                                     {"a": [float(v) if v is not None else None
                                            for v in values]}).fetchone()[0]
    assert bytes(float8_array(values)) == sent_by_psycopg
    ids = [uuid.uuid4(), None, uuid.uuid4()]
    assert bytes(uuid_array(ids)) == server.execute(
        "SELECT array_send(%(a)b::UUID[])", {"a": ids}).fetchone()[0]


def test_values_a_packer_does_not_take_go_to_psycopg_as_they_are(server: Any) -> None:
    assert isinstance(packed("FLOAT", [1.5, None]), PackedArray)
    assert isinstance(packed("UUID", [uuid.uuid4()]), PackedArray)
    texts = ["a", "b"]
    assert packed("TEXT", texts) is texts
    mixed = [1.5, "120"]
    assert packed("FLOAT", mixed) is mixed
    as_text = [str(uuid.uuid4())]
    assert packed("UUID", as_text) is as_text
    with pytest.raises(psycopg.errors.DataError):
        _read_back(server, "FLOAT", packed("FLOAT", [1.5, "not a number"]))


def test_an_insert_of_arrays_sends_floats_and_ids_packed(migrated_postgres: Engine) -> None:
    table = cast(Table, SessionReading.__table__)
    sent: list[dict[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        sent.append(parameters)

    ids = [uuid.uuid4(), uuid.uuid4()]
    moment = datetime(2026, 3, 2, 14, 5, 9, tzinfo=UTC)
    event.listen(migrated_postgres, "before_cursor_execute", capture)
    try:
        with migrated_postgres.begin() as connection:
            insert_arrays(connection, table, {
                "id": ids, "taken_at": [moment, moment], "systolic_mmhg": [128.0, None],
                "spo2_pct": [97, 98.5]}, constants={
                "created_at": moment, "updated_at": moment, "created_by": "nurse",
                "session_pk": None, "chair_pk": None, "message_pk": None, "source": "api",
                "device": "", "status": "final"})
    finally:
        event.remove(migrated_postgres, "before_cursor_execute", capture)
    [parameters] = sent
    assert {name for name, value in parameters.items() if isinstance(value, PackedArray)} == {
        "id", "systolic_mmhg", "spo2_pct"}
    with migrated_postgres.connect() as connection:
        rows = connection.execute(select(table.c.id, table.c.systolic_mmhg, table.c.spo2_pct)
                                  .where(table.c.id.in_(ids))).all()
    assert sorted(rows, key=lambda row: ids.index(row.id)) == [
        (ids[0], 128.0, 97.0), (ids[1], None, 98.5)]
