"""Secrets kept encrypted at rest (two-factor seeds): Fernet (AES-128-CBC with HMAC-SHA256) from
the `cryptography` library, keyed from the settings and never from the database.

`KETACLINIC_DATA_KEYS` holds one or more Fernet keys, comma-separated: the first encrypts, every
one decrypts, so a key is rotated by putting a new key first and running `ketaclinic keys
rotate`. With no keys set, one key is derived from `KETACLINIC_SECRET_KEY` (HKDF-SHA256).
"""

import base64
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from ketaclinic.settings import get_settings

FERNET_PREFIX = "gAAAAA"  # every Fernet token starts so (version byte and timestamp)


class SecretUnreadable(RuntimeError):
    """A stored secret that none of the configured keys decrypts."""


def derived_key(secret_key: str) -> bytes:
    """A Fernet key derived from the app's secret key (used when no data keys are set)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ketaclinic-data-key",
               info=b"totp-secrets").derive(secret_key.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


@cache
def box() -> MultiFernet:
    """The keys in force: the first encrypts, all decrypt."""
    settings = get_settings()
    keys = [k.strip() for k in settings.data_keys.split(",") if k.strip()]
    fernets = [Fernet(k.encode()) for k in keys] or [Fernet(derived_key(settings.secret_key))]
    return MultiFernet(fernets)


def encrypt(text: str) -> str:
    """The text encrypted with the current key."""
    return box().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """The text of a token any configured key made."""
    try:
        return box().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be decrypted with the configured "
                               "KETACLINIC_DATA_KEYS") from None


def rotate(token: str) -> str:
    """The token re-encrypted with the current (first) key."""
    return box().rotate(token.encode("ascii")).decode("ascii")


class EncryptedString(TypeDecorator[str]):
    """A string column stored encrypted; read back as plain text."""

    impl = String(255)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return decrypt(str(value))
