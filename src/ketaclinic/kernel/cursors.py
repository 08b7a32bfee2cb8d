"""Opaque page cursors: the parts that name where a page starts, written as one URL-safe token
a client hands back unchanged."""

import base64
import binascii
from collections.abc import Sequence

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
