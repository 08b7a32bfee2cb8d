"""measures, questionnaire links, alerts, course reviews, crisis contacts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 01:56:13.065175
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PROTECTED = ("measure", "measure_answer", "measure_request", "measure_alert", "course_review")


def _protect() -> None:
    """Refuse DELETE on measures and their follow-through (function from revision 0002)."""
    for table in PROTECTED:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION clinical_rows_never_deleted()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
                f"SELECT RAISE(ABORT, '{table} rows are never deleted'); END"
            )


def _unprotect() -> None:
    for table in PROTECTED:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def upgrade() -> None:
    op.create_table(
        "course_review",
        sa.Column("course_pk", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=30), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_pk"],
            ["evaluation.pk"],
            name=op.f("fk_course_review_course_pk_evaluation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_course_review")),
        sa.UniqueConstraint("id", name=op.f("uq_course_review_id")),
    )
    with op.batch_alter_table("course_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_review_course_pk"), ["course_pk"], unique=False)

    op.create_table(
        "measure_request",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("course_pk", sa.Integer(), nullable=True),
        sa.Column("instruments", sa.JSON(), nullable=False),
        sa.Column("occasion", sa.String(length=30), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_to", sa.String(length=320), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("send_error", sa.String(length=500), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_pk"],
            ["evaluation.pk"],
            name=op.f("fk_measure_request_course_pk_evaluation"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_pk"],
            ["patient.pk"],
            name=op.f("fk_measure_request_patient_pk_patient"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_pk"], ["site.pk"], name=op.f("fk_measure_request_site_pk_site"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_measure_request")),
        sa.UniqueConstraint("id", name=op.f("uq_measure_request_id")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_measure_request_token_sha256")),
    )
    with op.batch_alter_table("measure_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_measure_request_patient_pk"), ["patient_pk"], unique=False)

    op.create_table(
        "measure",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("course_pk", sa.Integer(), nullable=True),
        sa.Column("instrument", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("band", sa.String(length=60), nullable=True),
        sa.Column("risk_level", sa.String(length=20), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("occasion", sa.String(length=30), nullable=False),
        sa.Column("request_pk", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_reason", sa.String(length=500), nullable=True),
        sa.Column("error_marked_by", sa.String(length=150), nullable=True),
        sa.Column("error_marked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_pk"],
            ["evaluation.pk"],
            name=op.f("fk_measure_course_pk_evaluation"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_pk"], ["patient.pk"], name=op.f("fk_measure_patient_pk_patient"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["request_pk"],
            ["measure_request.pk"],
            name=op.f("fk_measure_request_pk_measure_request"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_pk"], ["site.pk"], name=op.f("fk_measure_site_pk_site"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_measure")),
        sa.UniqueConstraint("id", name=op.f("uq_measure_id")),
    )
    with op.batch_alter_table("measure", schema=None) as batch_op:
        batch_op.create_index("ix_measure_course_taken", ["course_pk", "taken_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_measure_instrument"), ["instrument"], unique=False)
        batch_op.create_index(batch_op.f("ix_measure_patient_pk"), ["patient_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_measure_site_pk"), ["site_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_measure_taken_at"), ["taken_at"], unique=False)

    op.create_table(
        "measure_alert",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("measure_pk", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("prescriber", sa.String(length=150), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=150), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["measure_pk"],
            ["measure.pk"],
            name=op.f("fk_measure_alert_measure_pk_measure"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_pk"],
            ["patient.pk"],
            name=op.f("fk_measure_alert_patient_pk_patient"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_pk"], ["site.pk"], name=op.f("fk_measure_alert_site_pk_site"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_measure_alert")),
        sa.UniqueConstraint("id", name=op.f("uq_measure_alert_id")),
    )
    with op.batch_alter_table("measure_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_measure_alert_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_measure_alert_patient_pk"), ["patient_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_measure_alert_site_pk"), ["site_pk"], unique=False)

    op.create_table(
        "measure_answer",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("measure_pk", sa.Integer(), nullable=False),
        sa.Column("item_number", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["measure_pk"],
            ["measure.pk"],
            name=op.f("fk_measure_answer_measure_pk_measure"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_measure_answer")),
    )
    with op.batch_alter_table("measure_answer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_measure_answer_measure_pk"), ["measure_pk"], unique=False)

    with op.batch_alter_table("network", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crisis_contacts", sa.JSON(), nullable=False, server_default="[]"))

    _protect()


def downgrade() -> None:
    _unprotect()
    with op.batch_alter_table("network", schema=None) as batch_op:
        batch_op.drop_column("crisis_contacts")

    with op.batch_alter_table("measure_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measure_answer_measure_pk"))

    op.drop_table("measure_answer")
    with op.batch_alter_table("measure_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measure_alert_site_pk"))
        batch_op.drop_index(batch_op.f("ix_measure_alert_patient_pk"))
        batch_op.drop_index(batch_op.f("ix_measure_alert_closed_at"))

    op.drop_table("measure_alert")
    with op.batch_alter_table("measure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measure_taken_at"))
        batch_op.drop_index(batch_op.f("ix_measure_site_pk"))
        batch_op.drop_index(batch_op.f("ix_measure_patient_pk"))
        batch_op.drop_index(batch_op.f("ix_measure_instrument"))
        batch_op.drop_index("ix_measure_course_taken")

    op.drop_table("measure")
    with op.batch_alter_table("measure_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measure_request_patient_pk"))

    op.drop_table("measure_request")
    with op.batch_alter_table("course_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_review_course_pk"))

    op.drop_table("course_review")
