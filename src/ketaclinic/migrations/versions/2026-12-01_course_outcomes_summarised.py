"""each course's outcome (baseline, latest, best, first response and remission, relapse) is a
row kept current with its measures, back-filled here from the measures already recorded

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 18:00:00
"""
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from ketaclinic.db import UTCDateTime
from ketaclinic.measures import course_outcomes

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[Any]:
    return [
        sa.Column("course_pk", sa.Integer(), sa.ForeignKey(
            "course.pk", name="fk_course_outcome_course_pk_course", ondelete="RESTRICT"),
            primary_key=True, autoincrement=False),
        sa.Column("site_pk", sa.Integer(), sa.ForeignKey(
            "site.pk", name="fk_course_outcome_site_pk_site", ondelete="RESTRICT"),
            nullable=False),
        sa.Column("instrument", sa.String(20), nullable=False),
        sa.Column("baseline", sa.Integer(), nullable=False),
        sa.Column("baseline_at", UTCDateTime(), nullable=False),
        sa.Column("measures_after_baseline", sa.Integer(), nullable=False),
        sa.Column("latest", sa.Integer(), nullable=False),
        sa.Column("latest_at", UTCDateTime(), nullable=False),
        sa.Column("best", sa.Integer(), nullable=False),
        sa.Column("best_at", UTCDateTime(), nullable=False),
        sa.Column("responding", sa.Boolean(), nullable=False),
        sa.Column("remitted", sa.Boolean(), nullable=False),
        sa.Column("first_response_at", UTCDateTime(), nullable=True),
        sa.Column("first_remission_at", UTCDateTime(), nullable=True),
        sa.Column("relapsed_at", UTCDateTime(), nullable=True),
        sa.Column("rules", sa.String(16), nullable=False),
        sa.Column("refreshed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("course_pk", name="pk_course_outcome"),
    ]


def upgrade() -> None:
    op.create_table("course_outcome", *_columns())
    op.create_index("ix_course_outcome_site_pk", "course_outcome", ["site_pk"])
    op.create_index("ix_course_outcome_rules", "course_outcome", ["rules"])
    bind = op.get_bind()
    # The table as this revision made it (UTC-aware columns), whatever the model becomes later.
    table = sa.Table("course_outcome", sa.MetaData(), *_columns())
    course_outcomes.rebuild(bind, table)


def downgrade() -> None:
    op.drop_table("course_outcome")
