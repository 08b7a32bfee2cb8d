"""conditions say where they are listed (FHIR Condition.category: problem-list-item,
encounter-diagnosis or health-concern); every condition recorded so far was entered on the
chart's problem list

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 02:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.migrations.protection import refuse_delete

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: SQLite keeps the table (and its no-delete
    # trigger) as it is, and PostgreSQL fills the existing rows without rewriting them.
    op.add_column("condition", sa.Column("category", sa.String(30), nullable=False,
                                         server_default="problem-list-item"))


def downgrade() -> None:
    with op.batch_alter_table("condition") as batch:
        batch.drop_column("category")
    if op.get_bind().dialect.name == "sqlite":
        # the batch rebuilt the table, and its no-delete trigger went with the old one
        refuse_delete(["condition"])
