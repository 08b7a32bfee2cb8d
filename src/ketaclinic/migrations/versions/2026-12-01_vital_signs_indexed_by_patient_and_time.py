"""a patient's vital signs are indexed by patient and time, so the newest page of a chart's
readings is read from the index, however long the history

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 15:30:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_vital_signs_patient_time", "vital_signs",
                    ["patient_pk", "measured_at", "pk"])


def downgrade() -> None:
    op.drop_index("ix_vital_signs_patient_time", table_name="vital_signs")
