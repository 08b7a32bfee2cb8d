"""the audit trail and the controlled-substance ledger are sealed with a key: each row carries a
keyed MAC of its content, and seals chain the committed rows (the unkeyed hash chain is checked
once more, then replaced)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 11:40:00
"""
import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from ketaclinic import clock
from ketaclinic.audit import keyed, sealing
from ketaclinic.audit.service import content_mac as audit_content_mac
from ketaclinic.db import UTCDateTime
from ketaclinic.inventory.integrity import content_mac as ledger_content_mac

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
_AUDIT_COLUMNS = ("seq", "id", "created_at", "created_by", "role", "action", "record_type",
                  "record_id", "patient_id", "client", "detail")
_audit = sa.table("audit_event", sa.column("seq", sa.BigInteger()), sa.column("id", sa.Uuid()),
                  sa.column("created_at", UTCDateTime()),
                  *(sa.column(name, sa.String()) for name in _AUDIT_COLUMNS[3:]),
                  sa.column("prev_hash", sa.String()), sa.column("hash", sa.String()),
                  sa.column("mac", sa.String()))
_ledger = sa.table("inventory_ledger", sa.column("pk", sa.Integer()), sa.column("txn_id", sa.Uuid()),
                   *(sa.column(name, sa.String()) for name in ("kind", "account", "actor",
                                                               "witness", "prescriber", "reason")),
                   *(sa.column(name, sa.Integer()) for name in ("container_pk", "location_pk",
                                                                "session_pk", "devices")),
                   sa.column("quantity_mg", sa.Numeric(14, 3)),
                   sa.column("occurred_at", UTCDateTime()), sa.column("recorded_at", UTCDateTime()),
                   sa.column("reverses", sa.Uuid()), sa.column("mac", sa.String()))
_seal = sa.table("audit_seal", sa.column("chain", sa.String()), sa.column("pos", sa.BigInteger()),
                 sa.column("ref", sa.BigInteger()), sa.column("row_mac", sa.String()),
                 sa.column("sealed_at", UTCDateTime()), sa.column("mac", sa.String()))


def _unkeyed_hash(row: Any, prev_hash: str) -> str:
    """The hash of the chain before this revision (SHA-256, no key), frozen here to check it."""
    content = [row.seq, str(row.id), row.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
               row.created_by, row.role, row.action, row.record_type, row.record_id, row.patient_id,
               row.client, row.detail, prev_hash]
    canonical = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _append_only(table: str, *, row_trigger: str, function: str, message: str,
                 create: bool) -> None:
    """Add (or drop) the triggers by which the database refuses UPDATE and DELETE on a table
    (and TRUNCATE on PostgreSQL); `message` may name the refused operation as {op}."""
    if _postgres():
        if create:
            op.execute(f"CREATE TRIGGER {row_trigger} BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION {function}()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {row_trigger} ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        return
    for name in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{name}")
        if create:
            op.execute(f"CREATE TRIGGER {table}_no_{name} BEFORE {name.upper()} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{message.format(op=name.upper())}'); END")


def _audit_triggers(create: bool) -> None:
    _append_only("audit_event", row_trigger="audit_event_no_update_delete",
                 function="audit_event_append_only", message="audit_event is append-only",
                 create=create)


def _ledger_triggers(create: bool) -> None:
    _append_only("inventory_ledger", row_trigger="inventory_ledger_no_change",
                 function="inventory_ledger_append_only",
                 message="the controlled-substance ledger is append-only: {op} refused",
                 create=create)


def _seal_triggers(create: bool) -> None:
    if _postgres() and create:
        op.execute("CREATE FUNCTION audit_seal_append_only() RETURNS trigger LANGUAGE plpgsql "
                   "AS $$ BEGIN RAISE EXCEPTION 'audit_seal is append-only'; END $$")
    _append_only("audit_seal", row_trigger="audit_seal_no_update_delete",
                 function="audit_seal_append_only", message="audit_seal is append-only",
                 create=create)
    if _postgres() and not create:
        op.execute("DROP FUNCTION IF EXISTS audit_seal_append_only()")


def _checked_audit_rows() -> Sequence[Any]:
    """Every audit row in order, after the unkeyed chain has verified: nothing is sealed over a
    break (a broken chain stops the upgrade, naming the row)."""
    columns = [_audit.c[name] for name in (*_AUDIT_COLUMNS, "prev_hash", "hash")]
    rows = op.get_bind().execute(sa.select(*columns).order_by(_audit.c.seq)).all()
    prev = GENESIS
    for expected, row in enumerate(rows, start=1):
        if row.seq != expected or row.prev_hash != prev or _unkeyed_hash(row, prev) != row.hash:
            raise RuntimeError(
                f"the audit chain is broken at seq {row.seq} (id {row.id}): it is not sealed over "
                "a break; restore the database from a backup whose `audit verify` passes")
        prev = row.hash
    return rows


def _seal_all(chain: str, refs_and_macs: Iterator[tuple[int, str]], now: datetime) -> None:
    links, prev = [], GENESIS
    for pos, (ref, row_mac) in enumerate(refs_and_macs, start=1):
        prev = sealing.seal_mac(chain=chain, pos=pos, ref=ref, row_mac=row_mac, sealed_at=now,
                                prev=prev)
        links.append({"chain": chain, "pos": pos, "ref": ref, "row_mac": row_mac,
                      "sealed_at": now, "mac": prev})
    if links:
        op.get_bind().execute(_seal.insert(), links)


def _store_macs(table: Any, ref: Any, macs: list[tuple[int, str]]) -> None:
    """Fill the new MAC column of existing rows, then make it required."""
    if macs:
        op.get_bind().execute(table.update().where(ref == sa.bindparam("ref"))
                              .values(mac=sa.bindparam("row_mac")),
                              [{"ref": number, "row_mac": mac} for number, mac in macs])
    with op.batch_alter_table(table.name) as batch:
        batch.alter_column("mac", existing_type=sa.String(64), nullable=False)


def upgrade() -> None:
    conn = op.get_bind()
    audit_rows = _checked_audit_rows()
    has_ledger = conn.execute(sa.select(sa.func.count()).select_from(_ledger)).scalar_one()
    if audit_rows or has_ledger:
        keyed.key()  # rows to seal and no key: stop before anything changes
    audit_macs = [(row.seq, audit_content_mac(row)) for row in audit_rows]
    _audit_triggers(create=False)
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("mac", sa.String(64), nullable=True))
        batch.drop_constraint("uq_audit_event_hash", type_="unique")
        batch.drop_column("prev_hash")
        batch.drop_column("hash")
    _store_macs(_audit, _audit.c.seq, audit_macs)
    _audit_triggers(create=True)
    if _postgres():
        start = (audit_rows[-1].seq + 1) if audit_rows else 1
        op.execute(f"CREATE SEQUENCE audit_event_seq_seq START WITH {int(start)}")

    ledger_rows = conn.execute(sa.select(*(c for c in _ledger.c if c.name != "mac"))
                               .order_by(_ledger.c.pk)).all()
    ledger_macs = [(row.pk, ledger_content_mac(row)) for row in ledger_rows]  # type: ignore[arg-type]
    _ledger_triggers(create=False)
    op.add_column("inventory_ledger", sa.Column("mac", sa.String(64), nullable=True))
    _store_macs(_ledger, _ledger.c.pk, ledger_macs)
    _ledger_triggers(create=True)

    op.create_table(
        "audit_seal",
        sa.Column("chain", sa.String(10), nullable=False),
        sa.Column("pos", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ref", sa.BigInteger(), nullable=False),
        sa.Column("row_mac", sa.String(64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain", "pos", name=op.f("pk_audit_seal")),
        sa.UniqueConstraint("chain", "ref", name="uq_audit_seal_chain_ref"),
    )
    op.create_table(
        "audit_unsealed",
        sa.Column("chain", sa.String(10), nullable=False),
        sa.Column("ref", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("chain", "ref", name=op.f("pk_audit_unsealed")),
    )
    now = clock.now()
    _seal_all("audit", iter(audit_macs), now)
    _seal_all("ledger", iter(ledger_macs), now)
    _seal_triggers(create=True)


def downgrade() -> None:
    conn = op.get_bind()
    _seal_triggers(create=False)
    op.drop_table("audit_unsealed")
    op.drop_table("audit_seal")
    _ledger_triggers(create=False)
    with op.batch_alter_table("inventory_ledger") as batch:
        batch.drop_column("mac")
    _ledger_triggers(create=True)

    if _postgres():
        op.execute("DROP SEQUENCE IF EXISTS audit_event_seq_seq")
    rows = conn.execute(sa.select(*(_audit.c[name] for name in _AUDIT_COLUMNS))
                        .order_by(_audit.c.seq)).all()
    _audit_triggers(create=False)
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    links, prev = [], GENESIS
    for row in rows:
        digest = _unkeyed_hash(row, prev)
        links.append({"ref": row.seq, "prev": prev, "digest": digest})
        prev = digest
    if links:
        conn.execute(_audit.update().where(_audit.c.seq == sa.bindparam("ref"))
                     .values(prev_hash=sa.bindparam("prev"), hash=sa.bindparam("digest")), links)
    with op.batch_alter_table("audit_event") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_audit_event_hash", ["hash"])
        batch.drop_column("mac")
    _audit_triggers(create=True)
