"""rejected and unmatched monitor messages are reviewed: each message keeps the site and chair
it was routed to, the session a nurse attached it to, and who reviewed it when, with a note

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 19:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.db import UTCDateTime
from ketaclinic.migrations.protection import refuse_delete

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("monitor_message") as batch:
        batch.add_column(sa.Column("site_pk", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("chair_pk", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("attached_session_pk", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reviewed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.String(150), nullable=True))
        batch.add_column(sa.Column("review_note", sa.String(1000), nullable=False,
                                   server_default=""))
        batch.create_foreign_key("fk_monitor_message_site_pk_site", "site", ["site_pk"], ["pk"],
                                 ondelete="RESTRICT")
        batch.create_foreign_key("fk_monitor_message_chair_pk_chair", "chair", ["chair_pk"],
                                 ["pk"], ondelete="RESTRICT")
        batch.create_foreign_key("fk_monitor_message_attached_session_pk_treatment_session",
                                 "treatment_session", ["attached_session_pk"], ["pk"],
                                 ondelete="RESTRICT")
        batch.create_index("ix_monitor_message_review", ["site_pk", "status", "received_at"])
    _keep_refusing_deletes()
    # Messages whose readings were stored name their chair through them.
    op.execute("UPDATE monitor_message SET chair_pk = (SELECT min(r.chair_pk) FROM session_reading r "
               "WHERE r.message_pk = monitor_message.pk) "
               "WHERE EXISTS (SELECT 1 FROM session_reading r WHERE r.message_pk = monitor_message.pk)")
    op.execute("UPDATE monitor_message SET site_pk = (SELECT c.site_pk FROM chair c "
               "WHERE c.pk = monitor_message.chair_pk) WHERE chair_pk IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("monitor_message") as batch:
        batch.drop_index("ix_monitor_message_review")
        batch.drop_constraint("fk_monitor_message_attached_session_pk_treatment_session",
                              type_="foreignkey")
        batch.drop_constraint("fk_monitor_message_chair_pk_chair", type_="foreignkey")
        batch.drop_constraint("fk_monitor_message_site_pk_site", type_="foreignkey")
        for column in ("review_note", "reviewed_by", "reviewed_at", "attached_session_pk",
                       "chair_pk", "site_pk"):
            batch.drop_column(column)
    _keep_refusing_deletes()


def _keep_refusing_deletes() -> None:
    # On SQLite the batch rebuilt the table, and its no-delete trigger went with the old one.
    if op.get_bind().dialect.name == "sqlite":
        refuse_delete(["monitor_message"])
