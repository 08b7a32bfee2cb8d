"""Opaque page cursors: the parts that name where a page starts, written as one URL-safe token
a client hands back unchanged."""

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_

from ketaclinic.errors import invalid


def encode_cursor(parts: Sequence[str]) -> str:
    """The token for these parts (none may contain "~")."""
    return base64.urlsafe_b64encode("~".join(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field: str, hint: str) -> list[str]:
    """The parts of a token this server gave; an InvalidInput naming `field` otherwise."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("~")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid(field, "is not a cursor this server gave", hint) from None


def moment_cursor(moment: datetime, pk: int) -> str:
    """The token for a page of time-ordered rows (newest first) that starts before this row."""
    return encode_cursor([moment.isoformat(), str(pk)])


def older_than_moment(cursor: str, field: str, hint: str, moment_column: Any, pk_column: Any
                      ) -> Any:
    """SQL: the rows older than the one a `moment_cursor` token names, in (time, key) order; an
    InvalidInput naming `field` if this server did not give the token."""
    parts = decode_cursor(cursor, field, hint)
    try:
        if len(parts) == 2:
            moment, pk = datetime.fromisoformat(parts[0]), int(parts[1])
            if moment.tzinfo is not None:  # a cursor's time carries its zone
                return or_(moment_column < moment, and_(moment_column == moment, pk_column < pk))
    except ValueError:
        pass
    raise invalid(field, "is not a cursor this server gave", hint)
