"""Anchors: the heads of the sealed chains written outside the database, one JSON line each,
so that a chain cut short or emptied is found by comparing it with the last anchor.

Each line carries its own keyed MAC, so an anchor file edited by hand is refused too.
"""

import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from ketaclinic.audit import keyed
from ketaclinic.audit.sealing import Anchor, Head


class AnchorUnreadable(ValueError):
    """An anchor file that is missing, empty, malformed or does not check out under the key."""


def _mac(taken_at: str, heads: Mapping[str, Mapping[str, object]]) -> str:
    parts: list[keyed.Part] = [taken_at]
    for chain in sorted(heads):
        parts += [chain, int(str(heads[chain]["pos"])), str(heads[chain]["mac"])]
    return keyed.mac(parts)


def line(heads: Mapping[str, Head], taken_at: datetime) -> str:
    """One anchor line for these chain heads."""
    when = keyed.canonical_time(taken_at)
    chains = {chain: {"pos": h.pos, "mac": h.mac} for chain, h in sorted(heads.items())}
    return json.dumps({"taken_at": when, "chains": chains, "mac": _mac(when, chains)},
                      separators=(",", ":"))


def append(path: Path, heads: Mapping[str, Head], taken_at: datetime) -> str:
    """Append an anchor line to the file (made if missing) and make it durable; the line."""
    text = line(heads, taken_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())
    return text


def last(path: Path, chain: str) -> Anchor:
    """The chain's head in the file's last anchor line, checked under the key."""
    try:
        lines = [row for row in path.read_text(encoding="utf-8").splitlines() if row.strip()]
    except OSError as exc:
        raise AnchorUnreadable(f"{path}: {exc.strerror or exc}") from None
    if not lines:
        raise AnchorUnreadable(f"{path}: holds no anchor")
    try:
        found = json.loads(lines[-1])
        chains = found["chains"]
        if not keyed.same(str(found["mac"]), _mac(str(found["taken_at"]), chains)):
            raise AnchorUnreadable(f"{path}: the last anchor does not check out under the key")
        head = chains[chain]
        return Anchor(chain=chain, pos=int(head["pos"]), mac=str(head["mac"]),
                      taken_at=datetime.fromisoformat(found["taken_at"]))
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, AnchorUnreadable):
            raise
        raise AnchorUnreadable(f"{path}: the last line is not an anchor of the {chain} chain "
                               f"({exc})") from None
