"""enquiries and patients' messages belong to a site (shown and audited per site)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 22:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text(
        "UPDATE enquiry SET site_pk = (SELECT MIN(m.site_pk) FROM patient_mrn m "
        "WHERE m.patient_pk = enquiry.patient_pk) "
        "WHERE site_pk IS NULL AND patient_pk IS NOT NULL"))
    bind.execute(sa.text(
        "UPDATE enquiry SET site_pk = (SELECT pk FROM site ORDER BY code LIMIT 1) "
        "WHERE site_pk IS NULL"))


def downgrade() -> None:
    """The sites stay filled in: they were unknown before, and are right now."""
