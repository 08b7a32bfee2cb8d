"""A pooled PostgreSQL connection is checked with the server before use only when it has lain
idle: a connection given back a moment ago was answering then.

SQLAlchemy's `pool_pre_ping` asks the server on every checkout, a round trip as long as an
audited read's own query. What drops a connection (a restarted server, a firewall's or the
server's idle timeout, an administrator ending idle sessions) finds it idle in the pool, and
that connection is still checked. A connection lost in the moment since it was given back fails
its request as it would have failed mid-request, and SQLAlchemy then replaces every connection
the pool held before the loss (it invalidates the pool on a disconnect error)."""

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

# Idle this long (seconds) or longer, a connection is checked before use.
PING_AFTER_IDLE_S = 1.0
_IDLE_SINCE = "ketaclinic.idle_since"


def ping_idle_connections(engine: Engine, after_s: float = PING_AFTER_IDLE_S) -> None:
    """Check a connection with the server at checkout when it was idle `after_s` or longer;
    one that does not answer is replaced before the caller gets it."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _given_back(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < after_s:
            return  # just opened, or in use a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("an idle pooled connection no longer answers") from exc
        if not alive:
            raise DisconnectionError("an idle pooled connection no longer answers")
