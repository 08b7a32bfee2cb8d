"""each patient's chart vital signs are tallied (how many rows hold each vital sign), folded
into one part by every write; back-filled here, one part a patient, from the rows already stored

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04 03:00:00
"""
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from ketaclinic.patients import vitals_tally

revision: str = '0029'
down_revision: str | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[Any]:
    return [
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("patient_pk", sa.Integer(), sa.ForeignKey(
            "patient.pk", name="fk_vital_signs_tally_patient_pk_patient", ondelete="RESTRICT"),
            nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False)
          for name in ("sets", "blood_pressure", "heart_rate", "respiratory_rate", "spo2",
                       "temperature", "weight", "height")],
        sa.PrimaryKeyConstraint("pk", name="pk_vital_signs_tally"),
    ]


def upgrade() -> None:
    op.create_table("vital_signs_tally", *_columns())
    op.create_index("ix_vital_signs_tally_patient_pk", "vital_signs_tally", ["patient_pk"])
    # The table as this revision made it, whatever the model becomes later.
    vitals_tally.rebuild(op.get_bind(), sa.Table("vital_signs_tally", sa.MetaData(),
                                                 *_columns()))


def downgrade() -> None:
    op.drop_table("vital_signs_tally")
