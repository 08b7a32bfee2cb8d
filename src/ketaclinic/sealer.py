"""The sealer: chains newly committed audit and ledger rows, about once a second, in every
server process and in the worker (one at a time: the others find the lock taken), and writes
anchors of the chains' heads to a file outside the database on a schedule."""

import logging
import threading
from pathlib import Path

from sqlalchemy.orm import Session

from ketaclinic import clock, repeating
from ketaclinic.audit import anchors, sealing
from ketaclinic.audit.service import AUDIT_TRAIL
from ketaclinic.db import unit_of_work
from ketaclinic.inventory.integrity import LEDGER

log = logging.getLogger(__name__)
SEALED = (AUDIT_TRAIL, LEDGER)
BATCH = 5000


def seal_once() -> int:
    """Seal every row committed so far, in batches; the number sealed."""
    total = 0
    while True:
        with unit_of_work() as db:
            done = sealing.seal_pending(db, SEALED, now=clock.now(), limit=BATCH)
        total += done
        if done < BATCH:
            return total


def heads(db: Session) -> dict[str, sealing.Head]:
    """Each chain's last link."""
    return {table.chain: sealing.head(db, table.chain) for table in SEALED}


def anchor(path: Path) -> str:
    """Seal what has committed, then append the chains' heads to the file; the line written."""
    seal_once()
    with unit_of_work() as db:
        found = heads(db)
    return anchors.append(path, found, clock.now())


def start_in_background(interval_s: float) -> threading.Event:
    """Seal in a daemon thread every interval; set the returned event to stop it. A failed pass
    leaves its rows waiting for the next."""
    return repeating.start_every(interval_s, seal_once, name="sealer", log=log,
                                  failure="sealing failed")
