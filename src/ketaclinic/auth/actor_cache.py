"""A short-lived cache of who a login or API token is: a request that presents a token seen in
the last few seconds skips the token, user, sites and emergency-access reads.

Entries live `KETACLINIC_TOKEN_CACHE_S` seconds (0: no cache) and never past the token's own
expiry. This process forgets a user's entries at once when their logins are revoked, their
account is administered or they open a record in an emergency; another server process sharing
the database notices within the lifetime at most.
"""

import hashlib
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ketaclinic import clock
from ketaclinic.kernel.actor import Actor
from ketaclinic.settings import get_settings

MAX_ENTRIES = 10_000


# The most network addresses one token's actor is kept for (a client calls from few).
ADDRESSES_KEPT = 8


@dataclass(frozen=True)
class Known:
    """Who a token belongs to, as of when it was last read."""

    actor: Actor
    must_change_password: bool
    until: datetime
    _from: dict[str, Actor] = field(default_factory=dict, compare=False, repr=False)

    def acting_from(self, address: str) -> Actor:
        """The actor as acting from this network address (the audit trail's client), made once
        an address rather than once a request."""
        actor = self._from.get(address)
        if actor is None:
            if len(self._from) >= ADDRESSES_KEPT:
                self._from.clear()
            actor = self._from[address] = replace(self.actor, client=address)
        return actor


_entries: dict[str, Known] = {}
_lock = threading.Lock()


def _key(raw: str, kind: str) -> str:
    return kind + ":" + hashlib.sha256(raw.encode("utf-8")).hexdigest()


def get(raw: str, kind: str) -> Known | None:
    """The cached identity behind a token, if still fresh."""
    if not raw:
        return None
    with _lock:
        known = _entries.get(_key(raw, kind))
    return known if known is not None and clock.now() < known.until else None


def put(raw: str, kind: str, actor: Actor, *, must_change_password: bool,
        token_expires_at: datetime) -> None:
    """Remember a token's identity for the cache's lifetime (not past the token's expiry)."""
    lifetime = get_settings().token_cache_s
    if not lifetime or not raw:
        return
    until = min(clock.now() + timedelta(seconds=lifetime), token_expires_at)
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()  # a burst of one-off tokens: start again rather than grow
        _entries[_key(raw, kind)] = Known(actor, must_change_password, until)


def forget_user(user_pk: int | None) -> None:
    """Drop every entry of one user (revoked, deactivated, changed, or given emergency access)."""
    with _lock:
        for key in [k for k, known in _entries.items() if known.actor.user_pk == user_pk]:
            del _entries[key]


def forget_token(raw: str) -> None:
    """Drop one token's entries (it was revoked)."""
    with _lock:
        for kind in {key.split(":", 1)[0] for key in _entries}:
            _entries.pop(_key(raw, kind), None)


def clear() -> None:
    """Forget everything."""
    with _lock:
        _entries.clear()
