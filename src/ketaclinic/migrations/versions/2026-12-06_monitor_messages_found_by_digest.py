"""a monitor message is found again by a digest of its text, indexed, not by its control id:
control ids recur (gateways restart their counters), so the listener's look for resends read
every earlier message under a group's control ids, more each day the feed ran. The digests of
the messages already kept are filled in here.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 12:00:00
"""
import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.migrations.protection import refuse_delete

revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INBOX = sa.table("monitor_message", sa.column("pk", sa.Integer()), sa.column("raw", sa.Text()),
                  sa.column("raw_digest", sa.LargeBinary()))
_CHUNK = 1000


def upgrade() -> None:
    op.add_column("monitor_message", sa.Column("raw_digest", sa.LargeBinary(32), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # The server's SHA-256 of the text as UTF-8, the database's encoding: what `_digest`
        # (and the feed, treatments.models.text_digest) gives.
        op.execute("UPDATE monitor_message SET raw_digest = sha256(convert_to(raw, 'UTF8'))")
        op.alter_column("monitor_message", "raw_digest", nullable=False)
    else:
        _fill_in_chunks(bind)
        with op.batch_alter_table("monitor_message") as batch:
            batch.alter_column("raw_digest", existing_type=sa.LargeBinary(32), nullable=False)
        # The batch rebuilt the table, and its no-delete trigger went with the old one.
        refuse_delete(["monitor_message"])
    op.create_index("ix_monitor_message_raw_digest", "monitor_message", ["raw_digest"])
    op.drop_index("ix_monitor_message_control_id", table_name="monitor_message")


def _fill_in_chunks(bind: sa.Connection) -> None:
    """SQLite: each kept message's digest, computed here a chunk of messages at a time."""
    after = 0
    while True:
        rows = bind.execute(sa.select(_INBOX.c.pk, _INBOX.c.raw).where(_INBOX.c.pk > after)
                            .order_by(_INBOX.c.pk).limit(_CHUNK)).all()
        if not rows:
            return
        bind.execute(_INBOX.update().where(_INBOX.c.pk == sa.bindparam("key"))
                     .values(raw_digest=sa.bindparam("digest")),
                     [{"key": pk, "digest": _digest(raw)} for pk, raw in rows])
        after = rows[-1].pk


def _digest(raw: str) -> bytes:
    """SHA-256 of a message's text as UTF-8, as the feed takes it (kept here as it was)."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()


def downgrade() -> None:
    op.create_index("ix_monitor_message_control_id", "monitor_message", ["control_id"])
    op.drop_index("ix_monitor_message_raw_digest", table_name="monitor_message")
    with op.batch_alter_table("monitor_message") as batch:
        batch.drop_column("raw_digest")
    if op.get_bind().dialect.name == "sqlite":
        refuse_delete(["monitor_message"])
