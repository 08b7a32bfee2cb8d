"""alert notices to the on-call clinician: staff email, the on-call rota, notice state on alerts

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 20:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ketaclinic.db

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=False, server_default=''))
    with op.batch_alter_table('measure_alert') as batch_op:
        batch_op.add_column(sa.Column('notice_status', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('notice_to', sa.String(length=254), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('notice_sent_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('notice_error', sa.String(length=500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('notice_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('notice_next_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_measure_alert_notice_status'), ['notice_status'], unique=False)
    op.create_table('on_call',
    sa.Column('site_pk', sa.Integer(), nullable=False),
    sa.Column('user_pk', sa.Integer(), nullable=False),
    sa.Column('starts_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.String(length=150), nullable=True),
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ketaclinic.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=150), nullable=False),
    sa.ForeignKeyConstraint(['site_pk'], ['site.pk'], name=op.f('fk_on_call_site_pk_site'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_pk'], ['app_user.pk'], name=op.f('fk_on_call_user_pk_app_user'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_on_call')),
    sa.UniqueConstraint('id', name=op.f('uq_on_call_id'))
    )
    op.create_index('ix_on_call_site_starts', 'on_call', ['site_pk', 'starts_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_on_call_site_starts', table_name='on_call')
    op.drop_table('on_call')
    with op.batch_alter_table('measure_alert') as batch_op:
        batch_op.drop_index(batch_op.f('ix_measure_alert_notice_status'))
        for column in ('notice_next_at', 'notice_attempts', 'notice_error', 'notice_sent_at',
                       'notice_to', 'notice_status'):
            batch_op.drop_column(column)
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.drop_column('email')
