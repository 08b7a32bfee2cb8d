"""session flow checks events addenda

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 00:23:27.729827
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NEVER_DELETED = ("session_event", "session_addendum")


def _protect(table: str) -> None:
    """Refuse DELETE on the table (function from revision 0002 on PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION clinical_rows_never_deleted()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION clinical_rows_never_deleted()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, '{table} rows are never deleted'); END"
        )


def _unprotect(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def upgrade() -> None:
    op.create_table(
        "session_addendum",
        sa.Column("session_pk", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=4000), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_pk"],
            ["treatment_session.pk"],
            name=op.f("fk_session_addendum_session_pk_treatment_session"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_session_addendum")),
        sa.UniqueConstraint("id", name=op.f("uq_session_addendum_id")),
    )
    with op.batch_alter_table("session_addendum", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_addendum_session_pk"), ["session_pk"], unique=False)

    op.create_table(
        "session_event",
        sa.Column("session_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_pk"],
            ["treatment_session.pk"],
            name=op.f("fk_session_event_session_pk_treatment_session"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_session_event")),
        sa.UniqueConstraint("id", name=op.f("uq_session_event_id")),
    )
    with op.batch_alter_table("session_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_event_session_pk"), ["session_pk"], unique=False)

    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ordered_by", sa.String(length=150), nullable=True))
        batch_op.add_column(sa.Column("checks", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("checks_override", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("pre_dose_override", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("escort_present", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("driving_warning_given", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("discharge_override", sa.JSON(), nullable=True))

    for table in NEVER_DELETED:
        _protect(table)


def downgrade() -> None:
    for table in NEVER_DELETED:
        _unprotect(table)
    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.drop_column("discharge_override")
        batch_op.drop_column("driving_warning_given")
        batch_op.drop_column("escort_present")
        batch_op.drop_column("pre_dose_override")
        batch_op.drop_column("checks_override")
        batch_op.drop_column("checks")
        batch_op.drop_column("ordered_by")

    with op.batch_alter_table("session_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_event_session_pk"))

    op.drop_table("session_event")
    with op.batch_alter_table("session_addendum", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_addendum_session_pk"))

    op.drop_table("session_addendum")
