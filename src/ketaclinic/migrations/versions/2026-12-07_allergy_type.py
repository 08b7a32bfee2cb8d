"""an allergy record says whether it is an allergy (immune-mediated) or an intolerance, as FHIR's
AllergyIntolerance.type does: screening reads only a hypersensitivity as ketamine's
contraindication. Records kept before say neither (null: not stated).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 06:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.migrations.protection import refuse_delete

revision: str = '0034'
down_revision: str | None = '0033'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column is added in place on both back ends (no table rebuild on SQLite, so the
    # table's no-delete trigger stays).
    op.add_column("allergy", sa.Column("kind", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("allergy") as batch:
        batch.drop_column("kind")
    if op.get_bind().dialect.name == "sqlite":
        refuse_delete(["allergy"])  # the batch rebuilt the table without its trigger
