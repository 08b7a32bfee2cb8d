"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 23:05:10.031522
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The audit trail is append-only: the database itself refuses changes to it.
SQLITE_AUDIT_TRIGGERS = [
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
]
POSTGRES_AUDIT_TRIGGERS = [
    """CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_event is append-only'; END $$""",
    """CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()""",
]


def _create_audit_triggers() -> None:
    statements = (
        POSTGRES_AUDIT_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_AUDIT_TRIGGERS
    )
    for statement in statements:
        op.execute(statement)


def _drop_audit_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("record_type", sa.String(length=50), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_event_hash")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_event_id")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_patient_id", ["patient_id"], unique=False)

    op.create_table(
        "network",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_network")),
        sa.UniqueConstraint("id", name=op.f("uq_network_id")),
    )
    op.create_table(
        "patient",
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=10), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("emergency_contact_name", sa.String(length=200), nullable=False),
        sa.Column("emergency_contact_phone", sa.String(length=40), nullable=False),
        sa.Column("emergency_contact_relationship", sa.String(length=60), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("search_name", sa.String(length=201), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_patient")),
        sa.UniqueConstraint("id", name=op.f("uq_patient_id")),
    )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_search_name"), ["search_name"], unique=False)

    op.create_table(
        "allergy",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("display", sa.String(length=300), nullable=False),
        sa.Column("reaction", sa.String(length=300), nullable=False),
        sa.Column("criticality", sa.String(length=20), nullable=False),
        sa.Column("clinical_status", sa.String(length=20), nullable=False),
        sa.Column("verification_status", sa.String(length=20), nullable=False),
        sa.Column("error_reason", sa.String(length=500), nullable=True),
        sa.Column("error_marked_by", sa.String(length=150), nullable=True),
        sa.Column("error_marked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_pk"],
            ["patient.pk"],
            name=op.f("fk_allergy_patient_pk_patient"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_allergy")),
        sa.UniqueConstraint("id", name=op.f("uq_allergy_id")),
    )
    with op.batch_alter_table("allergy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allergy_patient_pk"), ["patient_pk"], unique=False)

    op.create_table(
        "app_user",
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_enabled", sa.Boolean(), nullable=False),
        sa.Column("patient_pk", sa.Integer(), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_pk"],
            ["patient.pk"],
            name=op.f("fk_app_user_patient_pk_patient"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_app_user")),
        sa.UniqueConstraint("id", name=op.f("uq_app_user_id")),
        sa.UniqueConstraint("patient_pk", name=op.f("uq_app_user_patient_pk")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_table(
        "condition",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("display", sa.String(length=300), nullable=False),
        sa.Column("clinical_status", sa.String(length=20), nullable=False),
        sa.Column("verification_status", sa.String(length=20), nullable=False),
        sa.Column("onset_date", sa.Date(), nullable=True),
        sa.Column("abatement_date", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("error_reason", sa.String(length=500), nullable=True),
        sa.Column("error_marked_by", sa.String(length=150), nullable=True),
        sa.Column("error_marked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_pk"],
            ["patient.pk"],
            name=op.f("fk_condition_patient_pk_patient"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_condition")),
        sa.UniqueConstraint("id", name=op.f("uq_condition_id")),
    )
    with op.batch_alter_table("condition", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_condition_patient_pk"), ["patient_pk"], unique=False)

    op.create_table(
        "medication",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("display", sa.String(length=300), nullable=False),
        sa.Column("dose_value", sa.Float(), nullable=True),
        sa.Column("dose_unit", sa.String(length=20), nullable=False),
        sa.Column("frequency", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("error_reason", sa.String(length=500), nullable=True),
        sa.Column("error_marked_by", sa.String(length=150), nullable=True),
        sa.Column("error_marked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_pk"],
            ["patient.pk"],
            name=op.f("fk_medication_patient_pk_patient"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_medication")),
        sa.UniqueConstraint("id", name=op.f("uq_medication_id")),
    )
    with op.batch_alter_table("medication", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_medication_patient_pk"), ["patient_pk"], unique=False)

    op.create_table(
        "site",
        sa.Column("network_pk", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["network_pk"],
            ["network.pk"],
            name=op.f("fk_site_network_pk_network"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_site")),
        sa.UniqueConstraint("code", name=op.f("uq_site_code")),
        sa.UniqueConstraint("id", name=op.f("uq_site_id")),
    )
    op.create_table(
        "vital_signs",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("systolic_mmhg", sa.Float(), nullable=True),
        sa.Column("diastolic_mmhg", sa.Float(), nullable=True),
        sa.Column("heart_rate_bpm", sa.Float(), nullable=True),
        sa.Column("respiratory_rate_per_min", sa.Float(), nullable=True),
        sa.Column("spo2_pct", sa.Float(), nullable=True),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("weight_kg", sa.Float(), nullable=True),
        sa.Column("height_cm", sa.Float(), nullable=True),
        sa.Column("error_reason", sa.String(length=500), nullable=True),
        sa.Column("error_marked_by", sa.String(length=150), nullable=True),
        sa.Column("error_marked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_pk"],
            ["patient.pk"],
            name=op.f("fk_vital_signs_patient_pk_patient"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_vital_signs")),
        sa.UniqueConstraint("id", name=op.f("uq_vital_signs_id")),
    )
    with op.batch_alter_table("vital_signs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vital_signs_measured_at"), ["measured_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_vital_signs_patient_pk"), ["patient_pk"], unique=False)

    op.create_table(
        "access_token",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["app_user.pk"],
            name=op.f("fk_access_token_user_pk_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_access_token")),
        sa.UniqueConstraint("id", name=op.f("uq_access_token_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_access_token_token_hash")),
    )
    op.create_table(
        "chair",
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_pk"], ["site.pk"], name=op.f("fk_chair_site_pk_site"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_chair")),
        sa.UniqueConstraint("id", name=op.f("uq_chair_id")),
        sa.UniqueConstraint("site_pk", "name", name=op.f("uq_chair_site_pk")),
    )
    op.create_table(
        "patient_mrn",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("mrn", sa.String(length=40), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_pk"],
            ["patient.pk"],
            name=op.f("fk_patient_mrn_patient_pk_patient"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_pk"], ["site.pk"], name=op.f("fk_patient_mrn_site_pk_site"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_patient_mrn")),
        sa.UniqueConstraint("id", name=op.f("uq_patient_mrn_id")),
        sa.UniqueConstraint("site_pk", "mrn", name=op.f("uq_patient_mrn_site_pk")),
    )
    with op.batch_alter_table("patient_mrn", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_mrn_mrn"), ["mrn"], unique=False)

    op.create_table(
        "user_site",
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_pk"], ["site.pk"], name=op.f("fk_user_site_site_pk_site"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["app_user.pk"],
            name=op.f("fk_user_site_user_pk_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_pk", "site_pk", name=op.f("pk_user_site")),
    )

    _create_audit_triggers()


def downgrade() -> None:
    _drop_audit_triggers()
    op.drop_table("user_site")
    with op.batch_alter_table("patient_mrn", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_mrn_mrn"))

    op.drop_table("patient_mrn")
    op.drop_table("chair")
    op.drop_table("access_token")
    with op.batch_alter_table("vital_signs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vital_signs_patient_pk"))
        batch_op.drop_index(batch_op.f("ix_vital_signs_measured_at"))

    op.drop_table("vital_signs")
    op.drop_table("site")
    with op.batch_alter_table("medication", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_medication_patient_pk"))

    op.drop_table("medication")
    with op.batch_alter_table("condition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_condition_patient_pk"))

    op.drop_table("condition")
    op.drop_table("app_user")
    with op.batch_alter_table("allergy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allergy_patient_pk"))

    op.drop_table("allergy")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_search_name"))

    op.drop_table("patient")
    op.drop_table("network")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_patient_id")

    op.drop_table("audit_event")
