"""Numbers for audit events on PostgreSQL, drawn from the database's sequence a block at a time
while writes come often, and handed out within the process: then a write's events are numbered
without a round trip of their own.

A number is unique because the sequence gives it once; it says nothing of order (on PostgreSQL
transactions already commit out of number order, and the sealer chains rows in the order they
commit). A number drawn and never used is a gap, as a rolled-back `nextval` is: the supply is
dropped when it is older than `FRESH_S`, so numbers drawn before a database is restored or
recreated are never handed out after it.
"""

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection

# Numbers drawn at a time once writes come more often than `FRESH_S` apart: at a few hundred
# audited requests a second a block lasts a fraction of a second.
BLOCK = 100
FRESH_S = 1.0


@dataclass
class _Supply:
    numbers: deque[int] = field(default_factory=deque)
    drawn_at: float = float("-inf")


class NumberBlocks:
    """A process's supply of numbers drawn from a sequence, one supply per database."""

    def __init__(self, draw: Callable[[Connection, int], list[int]], block: int = BLOCK,
                 fresh_s: float = FRESH_S) -> None:
        self._draw = draw
        self._block = block
        self._fresh_s = fresh_s
        self._supplies: dict[str, _Supply] = {}
        self._owner = os.getpid()
        self._lock = threading.Lock()

    def take(self, connection: Connection, count: int) -> list[int]:
        """`count` numbers no other caller in any process is given, drawing (on this
        connection) when the supply is short or stale: a block if the last draw was recent,
        else just what is asked for, so a quiet clinic wastes none."""
        now = time.monotonic()
        with self._lock:
            if self._owner != os.getpid():  # a forked child must not reuse its parent's numbers
                self._supplies.clear()
                self._owner = os.getpid()
            supply = self._supplies.setdefault(str(connection.engine.url), _Supply())
            busy = now - supply.drawn_at < self._fresh_s
            if not busy:
                supply.numbers.clear()
            if len(supply.numbers) < count:
                supply.numbers.extend(self._draw(connection, count - len(supply.numbers)
                                                 + (self._block if busy else 0)))
                supply.drawn_at = now
            return [supply.numbers.popleft() for _ in range(count)]
