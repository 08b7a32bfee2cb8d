"""other systems are registered as clients (CDS clients, SMART apps, backend services) with the
JWK Set their signed JWTs are checked against, each JWT id is kept until it expires so a JWT
works once, and the OAuth tokens issued to them are kept by hash

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-02 09:00:00
"""
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from ketaclinic.db import UTCDateTime

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _record_columns() -> list[sa.Column[Any]]:
    """The columns every record table carries: key, public id, times, author."""
    return [sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("updated_at", UTCDateTime(), nullable=False),
            sa.Column("created_by", sa.String(150), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "registered_client",
        *_record_columns(),
        sa.Column("client_id", sa.String(300), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("site_pk", sa.Integer(), sa.ForeignKey(
            "site.pk", name="fk_registered_client_site_pk_site", ondelete="RESTRICT"),
            nullable=False),
        sa.Column("jwks", sa.Text(), nullable=False),
        sa.Column("jwks_url", sa.String(500), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(1000), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_registered_client"),
        sa.UniqueConstraint("id", name="uq_registered_client_id"),
        sa.UniqueConstraint("client_id", name="uq_registered_client_client_id"),
        sa.UniqueConstraint("name", name="uq_registered_client_name"),
    )
    op.create_table(
        "client_jwt_seen",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_pk", sa.Integer(), sa.ForeignKey(
            "registered_client.pk", name="fk_client_jwt_seen_client_pk_registered_client",
            ondelete="CASCADE"), nullable=False),
        sa.Column("jti", sa.String(255), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_client_jwt_seen"),
        sa.UniqueConstraint("client_pk", "jti", name="uq_client_jwt_seen_client_pk"),
    )
    op.create_index("ix_client_jwt_seen_expires_at", "client_jwt_seen", ["expires_at"])
    op.create_table(
        "oauth_token",
        *_record_columns(),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("refresh_hash", sa.String(64), nullable=True),
        sa.Column("client_pk", sa.Integer(), sa.ForeignKey(
            "registered_client.pk", name="fk_oauth_token_client_pk_registered_client",
            ondelete="CASCADE"), nullable=False),
        sa.Column("user_pk", sa.Integer(), sa.ForeignKey(
            "app_user.pk", name="fk_oauth_token_user_pk_app_user", ondelete="CASCADE"),
            nullable=True),
        sa.Column("patient_pk", sa.Integer(), sa.ForeignKey(
            "patient.pk", name="fk_oauth_token_patient_pk_patient", ondelete="RESTRICT"),
            nullable=True),
        sa.Column("scope", sa.String(1000), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("refresh_expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pk", name="pk_oauth_token"),
        sa.UniqueConstraint("id", name="uq_oauth_token_id"),
        sa.UniqueConstraint("token_hash", name="uq_oauth_token_token_hash"),
        sa.UniqueConstraint("refresh_hash", name="uq_oauth_token_refresh_hash"),
    )
    op.create_index("ix_oauth_token_client_pk", "oauth_token", ["client_pk"])
    op.create_index("ix_oauth_token_user_pk", "oauth_token", ["user_pk"])
    op.create_table(
        "oauth_code",
        *_record_columns(),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("client_pk", sa.Integer(), sa.ForeignKey(
            "registered_client.pk", name="fk_oauth_code_client_pk_registered_client",
            ondelete="CASCADE"), nullable=False),
        sa.Column("user_pk", sa.Integer(), sa.ForeignKey(
            "app_user.pk", name="fk_oauth_code_user_pk_app_user", ondelete="CASCADE"),
            nullable=False),
        sa.Column("patient_pk", sa.Integer(), sa.ForeignKey(
            "patient.pk", name="fk_oauth_code_patient_pk_patient", ondelete="RESTRICT"),
            nullable=True),
        sa.Column("scope", sa.String(1000), nullable=False),
        sa.Column("redirect_uri", sa.String(500), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("code_challenge_method", sa.String(10), nullable=False),
        sa.Column("nonce", sa.String(255), nullable=False),
        sa.Column("auth_time", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pk", name="pk_oauth_code"),
        sa.UniqueConstraint("id", name="uq_oauth_code_id"),
        sa.UniqueConstraint("code_hash", name="uq_oauth_code_code_hash"),
    )
    op.create_index("ix_oauth_code_client_pk", "oauth_code", ["client_pk"])


def downgrade() -> None:
    op.drop_table("oauth_code")
    op.drop_table("oauth_token")
    op.drop_table("client_jwt_seen")
    op.drop_table("registered_client")
