"""clinical rows are never deleted: the database refuses DELETE on clinical tables

Corrections mark a row entered-in-error instead (see ketaclinic.patients.service).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLINICAL_TABLES = ("patient", "patient_mrn", "condition", "medication", "allergy", "vital_signs")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """CREATE FUNCTION clinical_rows_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION '% rows are never deleted; mark them entered-in-error',
                     TG_TABLE_NAME; END $$"""
        )
        for table in CLINICAL_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION clinical_rows_never_deleted()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION clinical_rows_never_deleted()"
            )
        return
    for table in CLINICAL_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, '{table} rows are never deleted; mark them entered-in-error'); END"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in CLINICAL_TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS clinical_rows_never_deleted()")
