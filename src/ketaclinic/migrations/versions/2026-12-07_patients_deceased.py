"""a patient records whether they have died, and when (FHIR Patient.deceased[x]): a deceased
patient imported from an EHR was registered as living, screened, booked and reminded.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaclinic.migrations.protection import refuse_delete

revision: str = '0036'
down_revision: str | None = '0035'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place on both back ends (no table rebuild on SQLite, so its no-delete trigger
    # stays); every patient kept before is living.
    op.add_column("patient", sa.Column("deceased", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    op.add_column("patient", sa.Column("deceased_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient") as batch:
        batch.drop_column("deceased_on")
        batch.drop_column("deceased")
    if op.get_bind().dialect.name == "sqlite":
        refuse_delete(["patient"])  # the batch rebuilt the table without its trigger
