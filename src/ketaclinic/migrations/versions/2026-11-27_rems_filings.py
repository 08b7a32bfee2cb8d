"""rems filings

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 00:36:12.999905
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _protect() -> None:
    """Refuse DELETE on filed forms (function from revision 0002 on PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER rems_filing_no_delete BEFORE DELETE ON rems_filing "
            "FOR EACH ROW EXECUTE FUNCTION clinical_rows_never_deleted()"
        )
    else:
        op.execute(
            "CREATE TRIGGER rems_filing_no_delete BEFORE DELETE ON rems_filing BEGIN "
            "SELECT RAISE(ABORT, 'rems_filing rows are never deleted'); END"
        )


def _unprotect() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS rems_filing_no_delete ON rems_filing")
    else:
        op.execute("DROP TRIGGER IF EXISTS rems_filing_no_delete")


def upgrade() -> None:
    op.create_table(
        "rems_filing",
        sa.Column("session_pk", sa.Integer(), nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_pk"],
            ["treatment_session.pk"],
            name=op.f("fk_rems_filing_session_pk_treatment_session"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_rems_filing")),
        sa.UniqueConstraint("id", name=op.f("uq_rems_filing_id")),
        sa.UniqueConstraint("session_pk", name=op.f("uq_rems_filing_session_pk")),
    )

    _protect()


def downgrade() -> None:
    _unprotect()
    op.drop_table("rems_filing")
