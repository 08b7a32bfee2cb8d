"""Chains of sealed rows: the audit trail and the controlled-substance ledger.

A row is written with its own keyed MAC and a note that it awaits its seal, in the writer's
transaction and with no lock. The sealer (one at a time) then links the committed rows, in the
order it finds them, into a keyed chain: each seal's MAC covers its position, the row's number
and MAC, and the previous seal's MAC. Verifying walks the chain and recomputes every MAC, so an
edited, deleted, inserted or reordered row is found; an anchor of the chain's head kept outside
the database finds a cut tail, or a chain emptied altogether.
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Select, Table, and_, bindparam, delete, func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from ketaclinic.array_inserts import insert_rows
from ketaclinic.audit import keyed
from ketaclinic.audit.models import Seal, Unsealed
from ketaclinic.db import one_of
from ketaclinic.kept_rows import kept_rows

log = logging.getLogger(__name__)

# Any constant works; it names the advisory lock that lets one sealer run at a time on PostgreSQL.
_SEALER_LOCK_KEY = 0x6B657462
# The label of a waiting row's number in the sealer's statement (beside the table's columns).
WAITING = "waiting_ref"
SEALS = cast(Table, Seal.__table__)
UNSEALED = cast(Table, Unsealed.__table__)


@dataclass(frozen=True)
class SealedTable:
    """How one append-only table is chained: its chain's name, its row number column, the MAC
    of a row's content, when a row was written and what names it in a report."""

    chain: str
    model: type[Any]
    ref: InstrumentedAttribute[int]
    row_mac: Callable[[Any], str]
    written_at: Callable[[Any], datetime]
    name_of: Callable[[Any], str]


def awaiting_seal(db: Session, table: SealedTable, refs: Iterable[int]) -> None:
    """Note rows just written (flushed, so numbered) as waiting for their seal."""
    db.add_all([Unsealed(chain=table.chain, ref=ref) for ref in refs])


def link_content(*, chain: str, pos: int, ref: int, row_mac: str, sealed_at: datetime,
                 prev: str) -> list[keyed.Part]:
    """What a link's MAC covers: its place, the row's number and MAC, and the previous link."""
    return [chain, pos, ref, row_mac, keyed.canonical_time(sealed_at), prev]


def seal_mac(*, chain: str, pos: int, ref: int, row_mac: str, sealed_at: datetime,
             prev: str) -> str:
    """The keyed MAC of one link."""
    return keyed.mac(link_content(chain=chain, pos=pos, ref=ref, row_mac=row_mac,
                                  sealed_at=sealed_at, prev=prev))


@dataclass(frozen=True)
class Head:
    """The last link of a chain (position 0 and the genesis value when it is empty)."""

    pos: int
    mac: str


def head(db: Session, chain: str) -> Head:
    """The chain's last link."""
    last = db.execute(select(Seal.pos, Seal.mac).where(Seal.chain == chain)
                      .order_by(Seal.pos.desc()).limit(1)).first()
    return Head(last.pos, last.mac) if last else Head(0, keyed.GENESIS)


def _take_sealer_lock(db: Session) -> bool:
    if db.get_bind().dialect.name != "postgresql":
        return True  # SQLite: the sealer's transaction is the only writer while it runs
    return bool(db.execute(text("SELECT pg_try_advisory_xact_lock(:key)"),
                           {"key": _SEALER_LOCK_KEY}).scalar_one())


_WAITING: dict[str, Select[Any]] = {}


def _waiting(table: SealedTable) -> Select[Any]:
    """The chain's waiting rows, oldest first, with their content (a row gone has its columns
    null); one statement kept for each chain."""
    statement = _WAITING.get(table.chain)
    if statement is None:
        statement = _WAITING.setdefault(table.chain, (
            select(Unsealed.ref.label(WAITING), table.model.__table__)
            .outerjoin(table.model, table.ref == Unsealed.ref)
            .where(Unsealed.chain == table.chain)
            .order_by(Unsealed.ref).limit(bindparam("limit", type_=Integer))))
    return statement


def seal_pending(db: Session, tables: Sequence[SealedTable], *, now: datetime,
                 limit: int = 5000) -> int:
    """Seal up to `limit` committed rows per chain in the caller's transaction; the number sealed.

    Another sealer at work (PostgreSQL) means nothing to do here. A row whose own MAC does not
    check out was not written by ketaclinic: it is left unsealed (and logged), for `verify`.
    """
    if not _take_sealer_lock(db):
        return 0
    sealed = 0
    for table in tables:
        # the waiting rows with their content in one statement, as columns, not records: the
        # MACs read only them, and a batch is thousands (a row gone has its columns null)
        waiting = kept_rows(db, _waiting(table), {"limit": limit})
        if not waiting:
            continue
        refs = [getattr(row, WAITING) for row in waiting]
        rows = {ref: row for ref, row in zip(refs, waiting, strict=True)
                if getattr(row, table.ref.key) is not None}
        last = head(db, table.chain)
        pos, prev = last.pos, last.mac
        links = []
        for ref in refs:
            row = rows.get(ref)
            if row is None or not keyed.same(table.row_mac(row), row.mac):
                log.error("%s row %s %s; not sealed", table.chain, ref,
                          "is gone" if row is None else "does not match its MAC")
                continue
            pos += 1
            prev = seal_mac(chain=table.chain, pos=pos, ref=ref, row_mac=row.mac, sealed_at=now,
                            prev=prev)
            links.append({"chain": table.chain, "pos": pos, "ref": ref, "row_mac": row.mac,
                          "sealed_at": now, "mac": prev})
        if links:  # one statement, not one ORM object per link
            insert_rows(db.connection(), SEALS, links)
        # on the table, not the ORM class: no Unsealed object is in this session to synchronise
        db.connection().execute(delete(UNSEALED).where(
            UNSEALED.c.chain == table.chain,
            one_of(UNSEALED.c.ref, "refs", db.get_bind().dialect.name, refs)))
        sealed += len(links)
    return sealed


@dataclass(frozen=True)
class Anchor:
    """A chain's head as recorded outside the database at a moment."""

    chain: str
    pos: int
    mac: str
    taken_at: datetime


@dataclass(frozen=True)
class ChainReport:
    """The outcome of checking a chain: whole, or the first bad row and why; and the rows that
    have committed but are not sealed yet."""

    chain: str
    rows_checked: int
    head: Head
    bad_ref: int | None = None
    bad_name: str | None = None
    reason: str = ""
    unsealed: int = 0
    oldest_unsealed: datetime | None = None

    @property
    def ok(self) -> bool:
        """Whether every row checked out."""
        return self.bad_ref is None and not self.reason


def _walk(db: Session, table: SealedTable, batch_size: int
          ) -> Iterable[tuple[Seal, Any]]:
    query = (select(Seal, table.model)
             .outerjoin(table.model, table.ref == Seal.ref)
             .where(Seal.chain == table.chain).order_by(Seal.pos))
    return db.execute(query.execution_options(yield_per=batch_size))


def _link_problem(table: SealedTable, seal: Seal, row: Any, expected_pos: int, prev: str) -> str:
    if seal.pos != expected_pos:
        return (f"seal {expected_pos} is missing (the chain jumps from {expected_pos - 1} to "
                f"{seal.pos}: rows removed)")
    if not keyed.same(seal.mac, seal_mac(chain=table.chain, pos=seal.pos, ref=seal.ref,
                                         row_mac=seal.row_mac, sealed_at=seal.sealed_at,
                                         prev=prev)):
        return "the seal does not check out under the key (forged, moved or rewritten)"
    if row is None:
        return "the sealed row is gone (deleted)"
    if not keyed.same(seal.row_mac, row.mac) or not keyed.same(table.row_mac(row), row.mac):
        return "the row's content is not what was sealed (edited or swapped)"
    return ""


def verify(db: Session, table: SealedTable, *, anchor: Anchor | None = None, batch_size: int = 2000,
           progress: Callable[[int], None] | None = None) -> ChainReport:
    """Recompute the chain from its first link, then check the unsealed rows and the anchor."""
    expected, prev, checked = 1, keyed.GENESIS, 0
    anchored_mac: str | None = None
    for seal, row in _walk(db, table, batch_size):
        problem = _link_problem(table, seal, row, expected, prev)
        if problem:
            return ChainReport(table.chain, checked, Head(expected - 1, prev), seal.ref,
                               table.name_of(row) if row is not None else None, problem)
        if anchor is not None and seal.pos == anchor.pos:
            anchored_mac = seal.mac
        checked += 1
        expected, prev = seal.pos + 1, seal.mac
        if progress is not None and checked % batch_size == 0:
            progress(checked)
    found = Head(expected - 1, prev)
    if anchor is not None:
        taken = anchor.taken_at.isoformat(timespec="seconds")
        if found.pos < anchor.pos:
            return ChainReport(table.chain, checked, found, reason=(
                f"the chain ends at {found.pos} but the anchor taken {taken} saw {anchor.pos} "
                "sealed rows (rows removed from the end)"))
        if anchored_mac is None or not keyed.same(anchored_mac, anchor.mac):
            return ChainReport(table.chain, checked, found, reason=(
                f"link {anchor.pos} is not the one the anchor taken {taken} recorded "
                "(the chain was rewritten)"))
    return _with_unsealed(db, table, ChainReport(table.chain, checked, found))


def _with_unsealed(db: Session, table: SealedTable, report: ChainReport) -> ChainReport:
    query = (select(table.model).outerjoin(Seal, and_(Seal.chain == table.chain,
                                                      Seal.ref == table.ref))
             .where(Seal.ref.is_(None)).order_by(table.ref))
    count, oldest = 0, None
    for row in db.execute(query.execution_options(yield_per=2000)).scalars():
        if not keyed.same(table.row_mac(row), row.mac):
            return ChainReport(table.chain, report.rows_checked, report.head,
                               getattr(row, table.ref.key), table.name_of(row),
                               "an unsealed row does not check out under the key (forged)")
        count += 1
        written = table.written_at(row)
        oldest = written if oldest is None or written < oldest else oldest
    return ChainReport(table.chain, report.rows_checked, report.head, unsealed=count,
                       oldest_unsealed=oldest)


def unsealed_age_s(report: ChainReport, now: datetime) -> float:
    """How long the oldest unsealed row has waited (0 when none)."""
    return 0.0 if report.oldest_unsealed is None else (now - report.oldest_unsealed).total_seconds()


def pending_count(db: Session, chain: str) -> int:
    """Rows of a chain waiting for the sealer."""
    return db.execute(select(func.count()).select_from(Unsealed)
                      .where(Unsealed.chain == chain)).scalar_one()
