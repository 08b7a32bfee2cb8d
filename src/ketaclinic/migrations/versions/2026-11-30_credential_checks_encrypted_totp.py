"""one credential check: attempts table for lock-outs and rate limits, two-factor codes used once,
two-factor seeds encrypted at rest

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ketaclinic.db
from ketaclinic.encryption import FERNET_PREFIX, decrypt, encrypt

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _recode(convert: object, wanted: bool) -> None:
    """Encrypt (or decrypt) every stored two-factor seed not yet in the wanted form."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT pk, totp_secret FROM app_user "
                                "WHERE totp_secret IS NOT NULL")).all()
    for pk, value in rows:
        if value.startswith(FERNET_PREFIX) != wanted:
            bind.execute(sa.text("UPDATE app_user SET totp_secret = :v WHERE pk = :pk"),
                         {"v": convert(value), "pk": pk})  # type: ignore[operator]


def upgrade() -> None:
    op.create_table('credential_attempt',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('address', sa.String(length=100), nullable=False),
    sa.Column('purpose', sa.String(length=30), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=100), nullable=False),
    sa.Column('at', ketaclinic.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_credential_attempt'))
    )
    op.create_index('ix_credential_attempt_address_at', 'credential_attempt', ['address', 'at'], unique=False)
    op.create_index('ix_credential_attempt_username_at', 'credential_attempt', ['username', 'at'], unique=False)
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=False, server_default='0'))
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=64),
                              type_=sa.String(length=255), existing_nullable=True)
    _recode(encrypt, wanted=True)


def downgrade() -> None:
    _recode(decrypt, wanted=False)
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=255),
                              type_=sa.String(length=64), existing_nullable=True)
        batch_op.drop_column('totp_last_step')
    op.drop_index('ix_credential_attempt_username_at', table_name='credential_attempt')
    op.drop_index('ix_credential_attempt_address_at', table_name='credential_attempt')
    op.drop_table('credential_attempt')
