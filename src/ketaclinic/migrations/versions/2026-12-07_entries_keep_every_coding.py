"""conditions, medications and allergies keep every coding an EHR sent, not only the first the
clinic accepts: screening an EHR's record reads them all (an ICD-10-CM code a rule knows beside
a SNOMED CT one it does not), so screening the chart reads them too.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 09:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.migrations.protection import refuse_delete

revision: str = '0037'
down_revision: str | None = '0036'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("condition", "medication", "allergy")


def upgrade() -> None:
    # A nullable column is added in place on both back ends (no table rebuild on SQLite, so the
    # tables' no-delete triggers stay); entries kept before have none.
    for table in TABLES:
        op.add_column(table, sa.Column("other_codings", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("other_codings")
    if op.get_bind().dialect.name == "sqlite":
        refuse_delete(list(TABLES))  # the batch rebuilt the tables without their triggers
