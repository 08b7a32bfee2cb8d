"""password resets that force a change, emergency ("break-glass") access

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ketaclinic.db
from ketaclinic.migrations.protection import allow_delete, refuse_delete

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEPT = ("emergency_access",)


def upgrade() -> None:
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table('emergency_access',
    sa.Column('user_pk', sa.Integer(), nullable=False),
    sa.Column('patient_pk', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('starts_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reviewed_by', sa.String(length=150), nullable=True),
    sa.Column('reviewed_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.String(length=1000), nullable=False),
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=150), nullable=False),
    sa.ForeignKeyConstraint(['patient_pk'], ['patient.pk'], name=op.f('fk_emergency_access_patient_pk_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_pk'], ['app_user.pk'], name=op.f('fk_emergency_access_user_pk_app_user'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_emergency_access')),
    sa.UniqueConstraint('id', name=op.f('uq_emergency_access_id'))
    )
    op.create_index(op.f('ix_emergency_access_user_pk'), 'emergency_access', ['user_pk'], unique=False)
    refuse_delete(KEPT)


def downgrade() -> None:
    allow_delete(KEPT)
    op.drop_index(op.f('ix_emergency_access_user_pk'), table_name='emergency_access')
    op.drop_table('emergency_access')
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.drop_column('must_change_password')
