"""the chart keeps the observations that say whether a patient is pregnant or breastfeeding (a
pregnancy status, an hCG test, a breastfeeding status), charted by staff or imported, so
screening from the chart reads them as screening from an EHR's record does.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 08:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.migrations.protection import allow_delete, refuse_delete

revision: str = '0035'
down_revision: str | None = '0034'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "status_observation",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("value_system", sa.String(length=100), nullable=False),
        sa.Column("value_code", sa.String(length=40), nullable=False),
        sa.Column("value_display", sa.String(length=300), nullable=False),
        sa.Column("value_text", sa.String(length=300), nullable=False),
        sa.Column("value_boolean", sa.Boolean(), nullable=True),
        sa.Column("system", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("display", sa.String(length=300), nullable=False),
        sa.Column("other_codings", sa.JSON(), nullable=True),
        sa.Column("error_reason", sa.String(length=500), nullable=True),
        sa.Column("error_marked_by", sa.String(length=150), nullable=True),
        sa.Column("error_marked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(["patient_pk"], ["patient.pk"],
                                name=op.f("fk_status_observation_patient_pk_patient"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_status_observation")),
        sa.UniqueConstraint("id", name=op.f("uq_status_observation_id")),
    )
    with op.batch_alter_table("status_observation") as batch:
        batch.create_index(batch.f("ix_status_observation_patient_pk"), ["patient_pk"],
                           unique=False)
    refuse_delete(["status_observation"])


def downgrade() -> None:
    allow_delete(["status_observation"])
    op.drop_table("status_observation")
