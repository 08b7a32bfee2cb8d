"""each treatment session's readings are tallied (how many hold each vital sign, the first and
last taken) in parts each write adds, folded when the session closes; back-filled here, one
part a session, from the readings already stored

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 05:00:00
"""
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from ketaclinic.db import UTCDateTime
from ketaclinic.treatments import reading_tally

revision: str = '0028'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[Any]:
    return [
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("session_pk", sa.Integer(), sa.ForeignKey(
            "treatment_session.pk", name="fk_session_reading_tally_session_pk_treatment_session",
            ondelete="RESTRICT"), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False)
          for name in ("readings", "blood_pressure", "heart_rate", "respiratory_rate", "spo2",
                       "temperature")],
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_session_reading_tally"),
    ]


def upgrade() -> None:
    op.create_table("session_reading_tally", *_columns())
    op.create_index("ix_session_reading_tally_session_pk", "session_reading_tally",
                    ["session_pk"])
    # The table as this revision made it, whatever the model becomes later.
    reading_tally.rebuild(op.get_bind(), sa.Table("session_reading_tally", sa.MetaData(),
                                                  *_columns()))


def downgrade() -> None:
    op.drop_table("session_reading_tally")
