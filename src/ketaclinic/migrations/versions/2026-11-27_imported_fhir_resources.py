"""imported fhir resources

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 02:47:36.115583
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imported_resource",
        sa.Column("source_key", sa.String(length=300), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_pk", sa.Integer(), nullable=True),
        sa.Column("patient_pk", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_imported_resource")),
        sa.UniqueConstraint("id", name=op.f("uq_imported_resource_id")),
        sa.UniqueConstraint("source_key", name=op.f("uq_imported_resource_source_key")),
    )
    with op.batch_alter_table("imported_resource", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_imported_resource_patient_pk"), ["patient_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("imported_resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imported_resource_patient_pk"))

    op.drop_table("imported_resource")
