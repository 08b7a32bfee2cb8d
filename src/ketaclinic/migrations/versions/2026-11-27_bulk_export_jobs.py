"""bulk export jobs

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 02:52:22.582295
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "export_job",
        sa.Column("requested_by", sa.String(length=150), nullable=False),
        sa.Column("request_url", sa.String(length=2000), nullable=False),
        sa.Column("patient_pks", sa.JSON(), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("transaction_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_export_job")),
        sa.UniqueConstraint("id", name=op.f("uq_export_job_id")),
    )
    op.create_table(
        "export_file",
        sa.Column("job_pk", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_pk"], ["export_job.pk"], name=op.f("fk_export_file_job_pk_export_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_export_file")),
        sa.UniqueConstraint("id", name=op.f("uq_export_file_id")),
    )
    with op.batch_alter_table("export_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_export_file_job_pk"), ["job_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("export_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_file_job_pk"))

    op.drop_table("export_file")
    op.drop_table("export_job")
