"""evaluations consents rule overrides

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 23:49:52.342536
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NEVER_DELETED = ("evaluation", "consent", "rule_override")


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
            f"SELECT RAISE(ABORT, '{table} rows are never deleted; mark them entered-in-error'); END"
        )


def _unprotect(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def upgrade() -> None:
    op.create_table(
        "rule_override",
        sa.Column("parameter", sa.String(length=80), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_rule_override")),
        sa.UniqueConstraint("id", name=op.f("uq_rule_override_id")),
    )
    with op.batch_alter_table("rule_override", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_override_parameter"), ["parameter"], unique=False)

    op.create_table(
        "consent",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("consent_version", sa.String(length=60), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("error_reason", sa.String(length=500), nullable=True),
        sa.Column("error_marked_by", sa.String(length=150), nullable=True),
        sa.Column("error_marked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_pk"], ["patient.pk"], name=op.f("fk_consent_patient_pk_patient"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_consent")),
        sa.UniqueConstraint("id", name=op.f("uq_consent_id")),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_patient_pk"), ["patient_pk"], unique=False)

    op.create_table(
        "evaluation",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=20), nullable=False),
        sa.Column("indication", sa.String(length=20), nullable=False),
        sa.Column("screened_on", sa.Date(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("ruleset_version", sa.String(length=60), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("signed_decision", sa.String(length=20), nullable=True),
        sa.Column("signed_by", sa.String(length=150), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("caution_reasons", sa.JSON(), nullable=False),
        sa.Column("sign_note", sa.String(length=2000), nullable=False),
        sa.Column("dose", sa.JSON(), nullable=True),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("error_reason", sa.String(length=500), nullable=True),
        sa.Column("error_marked_by", sa.String(length=150), nullable=True),
        sa.Column("error_marked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_pk"], ["patient.pk"], name=op.f("fk_evaluation_patient_pk_patient"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_evaluation")),
        sa.UniqueConstraint("id", name=op.f("uq_evaluation_id")),
    )
    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluation_patient_pk"), ["patient_pk"], unique=False)

    for table in NEVER_DELETED:
        _protect(table)


def downgrade() -> None:
    for table in NEVER_DELETED:
        _unprotect(table)
    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_patient_pk"))

    op.drop_table("evaluation")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_patient_pk"))

    op.drop_table("consent")
    with op.batch_alter_table("rule_override", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_override_parameter"))

    op.drop_table("rule_override")
