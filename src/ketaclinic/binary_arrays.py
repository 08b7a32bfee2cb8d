"""One-dimensional arrays of float8 and uuid values in PostgreSQL's binary array format, packed by
one `struct` call each, for psycopg to send as they are.

psycopg dumps a list item by item in Python (a length and a value appended per item); a batch of
a hundred readings has six vital-sign columns and its ids, and dumping a batch's arrays was about
a tenth of a server worker's time under a load of batches. The layout is the one `array_recv`
reads: dimensions, a has-nulls flag, the element type, the size and lower bound, then each
element as its length (-1 for NULL) and its bytes, all big-endian."""

import uuid
from collections.abc import Sequence
from functools import lru_cache
from struct import Struct, pack
from struct import error as PackError
from typing import Any

from psycopg import adapters
from psycopg.adapt import Dumper
from psycopg.pq import Format

FLOAT8_OID, UUID_OID = 701, 2950
_HEAD = Struct(">iiiii")  # dimensions, has nulls, element type, size, lower bound
_EMPTY = Struct(">iii")  # an empty array: no dimensions
_NULL = (-1).to_bytes(4, "big", signed=True)
_UUID_LENGTH = (16).to_bytes(4, "big")


class PackedArray(bytes):
    """An array already in PostgreSQL's binary format; the statement casts its parameter to the
    array's type (`%(name)b::FLOAT[]`), which tells the server how to read it."""


class _PackedArrayDumper(Dumper):
    """Sends a `PackedArray` as it is, in binary, its type left for the server to infer from the
    statement's cast."""

    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


# On psycopg's global adapters, at import: a connection copies them when it is made, and every
# engine comes from `db.make_engine`, whose module imports this one (through array_inserts).
adapters.register_dumper(PackedArray, _PackedArrayDumper)


@lru_cache(maxsize=64)
def _floats_layout(count: int) -> Struct:
    return Struct(">" + "id" * count)


def float8_array(values: Sequence[Any]) -> PackedArray:
    """float8[] of these numbers (None as NULL)."""
    count = len(values)
    if not count:
        return PackedArray(_EMPTY.pack(0, 0, FLOAT8_OID))
    if None not in values:
        lengths_and_values: list[Any] = [8] * (2 * count)
        lengths_and_values[1::2] = values
        return PackedArray(_HEAD.pack(1, 0, FLOAT8_OID, count, 1)
                           + _floats_layout(count).pack(*lengths_and_values))
    layout = ">" + "".join("i" if value is None else "id" for value in values)
    flat = [part for value in values for part in ((-1,) if value is None else (8, value))]
    return PackedArray(_HEAD.pack(1, 1, FLOAT8_OID, count, 1) + pack(layout, *flat))


def uuid_array(values: Sequence[uuid.UUID | None]) -> PackedArray:
    """uuid[] of these ids (None as NULL)."""
    count = len(values)
    if not count:
        return PackedArray(_EMPTY.pack(0, 0, UUID_OID))
    head = _HEAD.pack(1, int(None in values), UUID_OID, count, 1)
    return PackedArray(head + b"".join(_NULL if value is None else _UUID_LENGTH + value.bytes
                                       for value in values))


_PACKERS = {"FLOAT": float8_array, "UUID": uuid_array}


def packed(kind: str, values: list[Any]) -> Any:
    """The column's values as a `PackedArray` where its SQL type (`kind`, as the statement casts
    it) has a packer that takes them all; else the list as it is, for psycopg to dump (and to
    refuse, if it must)."""
    packer = _PACKERS.get(kind)
    if packer is None:
        return values
    try:
        return packer(values)
    except (PackError, AttributeError, TypeError):  # a value the packer does not take
        return values
