"""a chair's sessions are indexed by their discharge, so the chair's last discharge (where the
readings its monitor sends may begin to be the next patient's) is read from the index's end,
however many sessions the chair has held

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 15:10:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0033'
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_treatment_session_chair_discharged", "treatment_session",
                    ["chair_pk", "discharged_at"])


def downgrade() -> None:
    op.drop_index("ix_treatment_session_chair_discharged", table_name="treatment_session")
