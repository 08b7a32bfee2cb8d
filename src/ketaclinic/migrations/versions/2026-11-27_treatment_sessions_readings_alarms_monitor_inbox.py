"""treatment sessions readings alarms monitor inbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:10:40.382913
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NEVER_DELETED = ("treatment_session", "session_reading", "session_alarm", "monitor_message")


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
        "monitor_message",
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("peer", sa.String(length=100), nullable=False),
        sa.Column("control_id", sa.String(length=100), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ack_code", sa.String(length=2), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_monitor_message")),
        sa.UniqueConstraint("id", name=op.f("uq_monitor_message_id")),
    )
    with op.batch_alter_table("monitor_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitor_message_control_id"), ["control_id"], unique=False)

    op.create_table(
        "treatment_session",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("evaluation_pk", sa.Integer(), nullable=False),
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("chair_pk", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dose_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dose_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dose_given", sa.JSON(), nullable=True),
        sa.Column("discharged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["chair_pk"], ["chair.pk"], name=op.f("fk_treatment_session_chair_pk_chair"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_pk"],
            ["evaluation.pk"],
            name=op.f("fk_treatment_session_evaluation_pk_evaluation"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_pk"],
            ["patient.pk"],
            name=op.f("fk_treatment_session_patient_pk_patient"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_pk"], ["site.pk"], name=op.f("fk_treatment_session_site_pk_site"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_treatment_session")),
        sa.UniqueConstraint("id", name=op.f("uq_treatment_session_id")),
    )
    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.create_index("ix_treatment_session_chair_status", ["chair_pk", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_treatment_session_patient_pk"), ["patient_pk"], unique=False)

    op.create_table(
        "session_reading",
        sa.Column("session_pk", sa.Integer(), nullable=True),
        sa.Column("chair_pk", sa.Integer(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("systolic_mmhg", sa.Float(), nullable=True),
        sa.Column("diastolic_mmhg", sa.Float(), nullable=True),
        sa.Column("heart_rate_bpm", sa.Float(), nullable=True),
        sa.Column("respiratory_rate_per_min", sa.Float(), nullable=True),
        sa.Column("spo2_pct", sa.Float(), nullable=True),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["chair_pk"], ["chair.pk"], name=op.f("fk_session_reading_chair_pk_chair"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["message_pk"],
            ["monitor_message.pk"],
            name=op.f("fk_session_reading_message_pk_monitor_message"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_pk"],
            ["treatment_session.pk"],
            name=op.f("fk_session_reading_session_pk_treatment_session"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_session_reading")),
        sa.UniqueConstraint("id", name=op.f("uq_session_reading_id")),
    )
    with op.batch_alter_table("session_reading", schema=None) as batch_op:
        batch_op.create_index("ix_session_reading_session_taken", ["session_pk", "taken_at"], unique=False)

    op.create_table(
        "session_alarm",
        sa.Column("session_pk", sa.Integer(), nullable=False),
        sa.Column("reading_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=150), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledgement_note", sa.String(length=1000), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["reading_pk"],
            ["session_reading.pk"],
            name=op.f("fk_session_alarm_reading_pk_session_reading"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_pk"],
            ["treatment_session.pk"],
            name=op.f("fk_session_alarm_session_pk_treatment_session"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_session_alarm")),
        sa.UniqueConstraint("id", name=op.f("uq_session_alarm_id")),
    )
    with op.batch_alter_table("session_alarm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_alarm_session_pk"), ["session_pk"], unique=False)

    with op.batch_alter_table("chair", schema=None) as batch_op:
        batch_op.add_column(sa.Column("monitor_device_id", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_chair_monitor_device_id"), ["monitor_device_id"])

    for table in NEVER_DELETED:
        _protect(table)


def downgrade() -> None:
    for table in NEVER_DELETED:
        _unprotect(table)
    with op.batch_alter_table("chair", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_chair_monitor_device_id"), type_="unique")
        batch_op.drop_column("monitor_device_id")

    with op.batch_alter_table("session_alarm", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_alarm_session_pk"))

    op.drop_table("session_alarm")
    with op.batch_alter_table("session_reading", schema=None) as batch_op:
        batch_op.drop_index("ix_session_reading_session_taken")

    op.drop_table("session_reading")
    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_treatment_session_patient_pk"))
        batch_op.drop_index("ix_treatment_session_chair_status")

    op.drop_table("treatment_session")
    with op.batch_alter_table("monitor_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_message_control_id"))

    op.drop_table("monitor_message")
