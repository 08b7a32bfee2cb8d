"""The bytes a MAC covers, and so every MAC already stored, stay exactly what the standard JSON
encoder and `hmac.new` made: a clinic's history must keep verifying after the encoder changed."""

import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.audit import keyed


def _reference_bytes(parts: list[keyed.Part]) -> bytes:
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _reference_mac(parts: list[keyed.Part]) -> str:
    return hmac.new(keyed.key(), _reference_bytes(parts), hashlib.sha256).hexdigest()


def test_every_character_is_written_as_the_standard_encoder_writes_it() -> None:
    characters = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(characters), 4096):
        texts = ["".join(characters[start:start + 4096]), *characters[start:start + 64]]
        assert keyed.canonical(texts) == _reference_bytes(texts)


parts = st.lists(st.one_of(st.none(), st.integers(), st.text()), max_size=12)


@given(parts)
def test_a_mac_is_the_one_the_standard_path_made(content: list[keyed.Part]) -> None:
    assert keyed.canonical(content) == _reference_bytes(content)
    assert keyed.mac(content) == _reference_mac(content)


def test_a_stored_mac_still_checks_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A link's MAC as the standard encoder and `hmac.new` made it, under a known key."""
    monkeypatch.setattr(keyed, "key", lambda: b"k")
    parts: list[keyed.Part] = ["audit", 7, 41, "ab" * 32, "2026-03-01T14:05:09.000123+00:00",
                               keyed.GENESIS, "Zoë \u2028 \"quoted\" \\ \n\t\x01", None, 2**70]
    assert keyed.mac(parts) == (
        "6ef7144ff08cd0ee914e80bc13f128e49d6eb5fce99c3e16caf277e97b15b9a0")
