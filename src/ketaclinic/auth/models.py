"""Tables for users, their sites and their login tokens."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketaclinic.clinics.models import Site
from ketaclinic.db import Base, RecordMixin, UTCDateTime
from ketaclinic.encryption import EncryptedString

user_site = Table(
    "user_site",
    Base.metadata,
    Column("user_pk", ForeignKey("app_user.pk", ondelete="CASCADE"), primary_key=True),
    Column("site_pk", ForeignKey("site.pk", ondelete="RESTRICT"), primary_key=True),
)


class User(RecordMixin, Base):
    """A person who logs in; exactly one role."""

    __tablename__ = "app_user"

    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # Where work for this person is sent (escalated alerts when on call); empty: none.
    email: Mapped[str] = mapped_column(String(254), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Set by an administrator's reset: nothing but choosing a new password until it is done.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    totp_secret: Mapped[str | None] = mapped_column(EncryptedString(), default=None)
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    # The last 30-second step a code was accepted for: each code works once.
    totp_last_step: Mapped[int] = mapped_column(default=0)
    patient_pk: Mapped[int | None] = mapped_column(
        ForeignKey("patient.pk", ondelete="RESTRICT"), unique=True, default=None
    )
    sites: Mapped[list[Site]] = relationship(secondary=user_site, order_by="Site.name")


class CredentialAttempt(Base):
    """One password (and code) check at any door: login page, API token, witness, second counter.
    Failures set lock-outs and rate limits; the row is written even when the request is refused."""

    __tablename__ = "credential_attempt"
    __table_args__ = (Index("ix_credential_attempt_username_at", "username", "at"),
                      Index("ix_credential_attempt_address_at", "address", "at"))

    pk: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(150))
    address: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(30))
    ok: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class EmergencyAccess(RecordMixin, Base):
    """A clinician's "break-glass" access to a record outside their sites: the reason they gave,
    for a limited time, flagged on the patient's audit trail and reviewed by an administrator."""

    __tablename__ = "emergency_access"

    user_pk: Mapped[int] = mapped_column(ForeignKey("app_user.pk", ondelete="RESTRICT"),
                                         index=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(String(1000))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(150), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    review_note: Mapped[str] = mapped_column(String(1000), default="")


class AccessToken(RecordMixin, Base):
    """A login: a web cookie, an API bearer token or a half-finished two-factor login."""

    __tablename__ = "access_token"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("app_user.pk", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    client: Mapped[str] = mapped_column(String(100), default="")
    user: Mapped[User] = relationship()


class RegisteredClient(RecordMixin, Base):
    """Another system allowed to call in: an EHR calling the CDS Hooks services, a SMART app, or
    a backend service exporting data. It proves who it is with JWTs signed by a key of its
    registered JWK Set, and acts for one site."""

    __tablename__ = "registered_client"

    # The `iss` of its JWTs: a CDS client's base URL, an app's or backend service's client_id.
    client_id: Mapped[str] = mapped_column(String(300), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    jwks: Mapped[str] = mapped_column(Text, default="")  # the public JWK Set, as pasted
    jwks_url: Mapped[str] = mapped_column(String(500), default="")
    redirect_uris: Mapped[str] = mapped_column(Text, default="")  # one per line
    scopes: Mapped[str] = mapped_column(String(1000), default="")  # allowed, space-separated
    active: Mapped[bool] = mapped_column(default=True)
    site: Mapped[Site] = relationship()


class ClientJwtSeen(Base):
    """A JWT id a registered client has used, kept until the JWT expires so it works once."""

    __tablename__ = "client_jwt_seen"
    __table_args__ = (UniqueConstraint("client_pk", "jti"),
                      Index("ix_client_jwt_seen_expires_at", "expires_at"))

    pk: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("registered_client.pk", ondelete="CASCADE"))
    jti: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OAuthToken(RecordMixin, Base):
    """An access token issued to a registered client (with its refresh token, for an app a
    user approved): whose, for which scopes, for which patient when launched for one."""

    __tablename__ = "oauth_token"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    client_pk: Mapped[int] = mapped_column(ForeignKey("registered_client.pk",
                                                      ondelete="CASCADE"), index=True)
    user_pk: Mapped[int | None] = mapped_column(ForeignKey("app_user.pk", ondelete="CASCADE"),
                                                default=None, index=True)
    patient_pk: Mapped[int | None] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"),
                                                   default=None)
    scope: Mapped[str] = mapped_column(String(1000))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    client: Mapped[RegisteredClient] = relationship()


class OAuthCode(RecordMixin, Base):
    """An authorization code a user's approval gave an app: good once, for a minute, only with
    the PKCE verifier of its challenge."""

    __tablename__ = "oauth_code"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("registered_client.pk", ondelete="CASCADE"),
                                           index=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("app_user.pk", ondelete="CASCADE"))
    patient_pk: Mapped[int | None] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"),
                                                   default=None)
    scope: Mapped[str] = mapped_column(String(1000))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    nonce: Mapped[str] = mapped_column(String(255), default="")
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
