"""controlled substance ledger

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 03:07:46.693904
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


RECORDS = ("inventory_product", "inventory_location", "inventory_lot", "inventory_container")


def _protect() -> None:
    """The ledger refuses UPDATE, DELETE and TRUNCATE; stock records refuse DELETE."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION inventory_ledger_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'the controlled-substance ledger is append-only: % refused', TG_OP; "
            "END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER inventory_ledger_no_change BEFORE UPDATE OR DELETE ON inventory_ledger "
            "FOR EACH ROW EXECUTE FUNCTION inventory_ledger_append_only()"
        )
        op.execute(
            "CREATE TRIGGER inventory_ledger_no_truncate BEFORE TRUNCATE ON inventory_ledger "
            "FOR EACH STATEMENT EXECUTE FUNCTION inventory_ledger_append_only()"
        )
        for table in RECORDS:
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION clinical_rows_never_deleted()"
            )
    else:
        for op_name in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER inventory_ledger_no_{op_name.lower()} BEFORE {op_name} ON "
                "inventory_ledger BEGIN SELECT RAISE(ABORT, 'the controlled-substance ledger is "
                f"append-only: {op_name} refused'); END"
            )
        for table in RECORDS:
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
                f"SELECT RAISE(ABORT, '{table} rows are never deleted'); END"
            )


def _unprotect() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS inventory_ledger_no_change ON inventory_ledger")
        op.execute("DROP TRIGGER IF EXISTS inventory_ledger_no_truncate ON inventory_ledger")
        op.execute("DROP FUNCTION IF EXISTS inventory_ledger_append_only()")
        for table in RECORDS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table}")
    else:
        op.execute("DROP TRIGGER IF EXISTS inventory_ledger_no_update")
        op.execute("DROP TRIGGER IF EXISTS inventory_ledger_no_delete")
        for table in RECORDS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def upgrade() -> None:
    op.create_table(
        "inventory_product",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("drug", sa.String(length=20), nullable=False),
        sa.Column("ndc", sa.String(length=20), nullable=False),
        sa.Column("mg_per_container", sa.Float(), nullable=False),
        sa.Column("concentration_mg_per_ml", sa.Float(), nullable=True),
        sa.Column("volume_ml", sa.Float(), nullable=True),
        sa.Column("devices_per_container", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.String(length=10), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_inventory_product")),
        sa.UniqueConstraint("id", name=op.f("uq_inventory_product_id")),
        sa.UniqueConstraint("ndc", name=op.f("uq_inventory_product_ndc")),
    )
    op.create_table(
        "inventory_lot",
        sa.Column("product_pk", sa.Integer(), nullable=False),
        sa.Column("lot_number", sa.String(length=60), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=False),
        sa.Column("invoice", sa.String(length=100), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_pk"],
            ["inventory_product.pk"],
            name=op.f("fk_inventory_lot_product_pk_inventory_product"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_inventory_lot")),
        sa.UniqueConstraint("id", name=op.f("uq_inventory_lot_id")),
    )
    op.create_table(
        "inventory_container",
        sa.Column("lot_pk", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_pk"],
            ["inventory_lot.pk"],
            name=op.f("fk_inventory_container_lot_pk_inventory_lot"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_inventory_container")),
        sa.UniqueConstraint("id", name=op.f("uq_inventory_container_id")),
        sa.UniqueConstraint("label", name=op.f("uq_inventory_container_label")),
    )
    with op.batch_alter_table("inventory_container", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_container_lot_pk"), ["lot_pk"], unique=False)

    op.create_table(
        "inventory_location",
        sa.Column("site_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_pk"], ["site.pk"], name=op.f("fk_inventory_location_site_pk_site"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_inventory_location")),
        sa.UniqueConstraint("id", name=op.f("uq_inventory_location_id")),
    )
    with op.batch_alter_table("inventory_location", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_location_site_pk"), ["site_pk"], unique=False)

    op.create_table(
        "inventory_ledger",
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("txn_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("account", sa.String(length=20), nullable=False),
        sa.Column("container_pk", sa.Integer(), nullable=False),
        sa.Column("location_pk", sa.Integer(), nullable=True),
        sa.Column("session_pk", sa.Integer(), nullable=True),
        sa.Column("quantity_mg", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=False),
        sa.Column("witness", sa.String(length=150), nullable=True),
        sa.Column("prescriber", sa.String(length=150), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("reverses", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["container_pk"],
            ["inventory_container.pk"],
            name=op.f("fk_inventory_ledger_container_pk_inventory_container"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["location_pk"],
            ["inventory_location.pk"],
            name=op.f("fk_inventory_ledger_location_pk_inventory_location"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_pk"],
            ["treatment_session.pk"],
            name=op.f("fk_inventory_ledger_session_pk_treatment_session"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_inventory_ledger")),
    )
    with op.batch_alter_table("inventory_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_ledger_container_pk"), ["container_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_inventory_ledger_occurred_at"), ["occurred_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_inventory_ledger_session_pk"), ["session_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_inventory_ledger_txn_id"), ["txn_id"], unique=False)

    _protect()


def downgrade() -> None:
    _unprotect()
    with op.batch_alter_table("inventory_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_ledger_txn_id"))
        batch_op.drop_index(batch_op.f("ix_inventory_ledger_session_pk"))
        batch_op.drop_index(batch_op.f("ix_inventory_ledger_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_inventory_ledger_container_pk"))

    op.drop_table("inventory_ledger")
    with op.batch_alter_table("inventory_location", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_location_site_pk"))

    op.drop_table("inventory_location")
    with op.batch_alter_table("inventory_container", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_container_lot_pk"))

    op.drop_table("inventory_container")
    op.drop_table("inventory_lot")
    op.drop_table("inventory_product")
