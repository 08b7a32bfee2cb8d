"""The controlled-substance ledger's tamper evidence: each row carries a keyed MAC of its
content, the sealer chains the committed rows, and verifying also checks that every
transaction still adds up to zero, in mg and in devices."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.audit import keyed, sealing
from ketaclinic.inventory.models import LedgerRow

CHAIN = "ledger"
MG = Decimal("0.001")


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def content(row: LedgerRow) -> list[keyed.Part]:
    """What a ledger row's MAC covers (its number is bound by its seal)."""
    return [str(row.txn_id), row.kind, row.account, row.container_pk, row.location_pk,
            row.session_pk, str(Decimal(row.quantity_mg).quantize(MG)), row.devices,
            keyed.canonical_time(row.occurred_at), keyed.canonical_time(row.recorded_at),
            row.actor, row.witness, row.prescriber, row.reason, _optional(row.reverses)]


def content_mac(row: LedgerRow) -> str:
    """The keyed MAC of one ledger row's content."""
    return keyed.mac(content(row))


LEDGER = sealing.SealedTable(
    chain=CHAIN, model=LedgerRow, ref=LedgerRow.pk, row_mac=content_mac,
    written_at=lambda row: row.recorded_at, name_of=lambda row: f"transaction {row.txn_id}")


def write(db: Session, rows: Sequence[LedgerRow]) -> None:
    """Write ledger rows, each with its MAC, noted as waiting for their seal."""
    for row in rows:
        row.mac = content_mac(row)
    db.add_all(rows)
    db.flush()
    sealing.awaiting_seal(db, LEDGER, [row.pk for row in rows])


@dataclass(frozen=True)
class LedgerReport:
    """The chain's report and the transactions that do not add up to zero."""

    chain: sealing.ChainReport
    unbalanced: tuple[uuid.UUID, ...]

    @property
    def ok(self) -> bool:
        """Whether the chain is whole and every transaction balances."""
        return self.chain.ok and not self.unbalanced


def unbalanced_transactions(db: Session, limit: int = 20) -> tuple[uuid.UUID, ...]:
    """Transactions whose rows no longer add up to zero (a side removed or changed)."""
    query = (select(LedgerRow.txn_id).group_by(LedgerRow.txn_id)
             .having((func.abs(func.sum(LedgerRow.quantity_mg)) >= MG)
                     | (func.sum(LedgerRow.devices) != 0))
             .limit(limit))
    return tuple(db.execute(query).scalars())


def verify(*, db: Session, anchor: sealing.Anchor | None = None,
           progress: Callable[[int], None] | None = None) -> LedgerReport:
    """Check the ledger's chain (against an anchor when given) and that every transaction
    balances."""
    return LedgerReport(sealing.verify(db, LEDGER, anchor=anchor, progress=progress),
                        unbalanced_transactions(db))
