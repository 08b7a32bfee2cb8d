"""The OAuth 2.0 authorization server for registered clients, built on authlib's server
components: SMART Backend Services (`client_credentials` with a signed `private_key_jwt`
client assertion) issuing short-lived access tokens kept by hash."""

import hashlib
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit import service as audit
from ketaclinic.auth import client_jwt, clients, scopes
from ketaclinic.auth.models import OAuthToken, RegisteredClient
from ketaclinic.kernel.actor import Actor
from ketaclinic.settings import get_settings

TOKEN_PATH = "/api/v1/oauth/token"  # noqa: S105 (a path, not a secret)
TOKEN_PREFIX = "kco_"  # noqa: S105 (marks an OAuth access token apart from ketaclinic's own)
ASSERTION_METHOD = JWTBearerClientAssertion.CLIENT_AUTH_METHOD
GRANTS = {clients.BACKEND_SERVICE: {"client_credentials"},
          clients.SMART_APP: {"authorization_code", "refresh_token"}}


def token_url() -> str:
    """The token endpoint's URL under the public address: a client assertion's `aud`."""
    return get_settings().public_url.rstrip("/") + TOKEN_PATH


def digest(raw: str) -> str:
    """How a token is kept: its SHA-256, never the token itself."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class OAuthClient(ClientMixin):
    """A registered client as authlib sees it."""

    def __init__(self, row: RegisteredClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        """The client's id (its JWTs' `iss`)."""
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        """The first registered redirect URI."""
        uris = self.row.redirect_uris.split()
        return uris[0] if uris else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes within those registered (all registered if none asked);
        None when nothing asked for is allowed."""
        allowed = self.row.scopes.split()
        requested = (scope or "").split() or allowed
        granted = [s for s in requested if any(scopes.within(s, a) for a in allowed)]
        return " ".join(granted) or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Whether this is one of the registered redirect URIs, exactly."""
        return redirect_uri in self.row.redirect_uris.split()

    def check_client_secret(self, client_secret: str) -> bool:
        """Clients here have keys, never shared secrets."""
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """A backend service signs a client assertion; an app may too, or be public (PKCE)."""
        if self.row.kind == clients.BACKEND_SERVICE:
            return method == ASSERTION_METHOD
        return method in (ASSERTION_METHOD, "none")

    def check_response_type(self, response_type: str) -> bool:
        """Only apps take the authorization-code flow."""
        return self.row.kind == clients.SMART_APP and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        """The grants the client's kind may use."""
        return grant_type in GRANTS.get(self.row.kind, set())


class SignedAssertion(JWTBearerClientAssertion):
    """`private_key_jwt` client authentication (RFC 7523) checked like every client JWT here:
    key by kid from the client's JWK Set, `aud` the token endpoint, lifetime, jti used once."""

    def __init__(self, db: Session, now: datetime) -> None:
        super().__init__(validate_jti=True)
        self.db, self.now = db, now

    def get_audiences(self) -> list[str]:
        """The token endpoint's URL."""
        return [token_url()]

    def __call__(self, query_client: Any, request: OAuth2Request) -> OAuthClient | None:
        """The client whose signed assertion this request carries, or None if it carries none."""
        form = request.payload.data
        if form.get("client_assertion_type") != self.CLIENT_ASSERTION_TYPE:
            return None
        assertion = str(form.get("client_assertion") or "")
        try:
            verified = client_jwt.verify(
                self.db, assertion, audience=token_url(), now=self.now, require_iat=False,
                kinds={clients.BACKEND_SERVICE, clients.SMART_APP}, sub_is_iss=True)
        except client_jwt.ClientJwtRefused as exc:
            raise InvalidClientError(description=exc.detail) from None
        client = OAuthClient(verified.client)
        request.client = client
        return client if client.check_endpoint_auth_method(self.CLIENT_AUTH_METHOD, "token") \
            else None


class AssertedClientCredentials(ClientCredentialsGrant):
    """SMART Backend Services: `client_credentials` with a signed client assertion only."""

    TOKEN_ENDPOINT_AUTH_METHODS = [ASSERTION_METHOD]


class FormRequest(OAuth2Request):
    """A token request's form, as authlib reads it."""

    def __init__(self, uri: str, headers: dict[str, str], form: dict[str, str]) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = BasicOAuth2Payload(form)
        self._form = form

    @property
    def form(self) -> dict[str, str]:
        """The posted form."""
        return self._form

    @property
    def args(self) -> dict[str, str]:
        """No query parameters are read at the token endpoint."""
        return {}


def _new_token(**_: Any) -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class ClinicAuthorizationServer(AuthorizationServer):
    """authlib's authorization server over one request's database session and moment."""

    def __init__(self, db: Session, now: datetime, address: str) -> None:
        super().__init__()
        self.db, self.now, self.address = db, now, address
        self.register_client_auth_method(ASSERTION_METHOD, SignedAssertion(db, now))
        settings = get_settings()
        self.register_token_generator("default", BearerTokenGenerator(
            access_token_generator=_new_token, refresh_token_generator=_new_token,
            expires_generator=lambda client, grant_type: (
                settings.oauth_system_token_s if grant_type == "client_credentials"
                else settings.oauth_user_token_s)))
        self.register_grant(AssertedClientCredentials)

    def query_client(self, client_id: str) -> OAuthClient | None:
        """An active registered client by its id."""
        row = clients.by_client_id(self.db, client_id)
        return OAuthClient(row) if row is not None and row.active else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Keep the token's hash with its client, user, scopes and expiry; audit its issue."""
        client: RegisteredClient = request.client.row
        row = OAuthToken(
            token_hash=digest(token["access_token"]),
            refresh_hash=digest(token["refresh_token"]) if token.get("refresh_token") else None,
            client_pk=client.pk, user_pk=getattr(request.user, "pk", None),
            scope=token.get("scope", ""),
            expires_at=self.now + timedelta(seconds=int(token["expires_in"])),
            created_by=f"client:{client.name}")
        self.db.add(row)
        self.db.flush()
        actor = clients.actor_of(client, self.address, client.site.time_zone)
        audit.record(db=self.db, actor=actor, action="token", record_type="OAuthToken",
                     record_id=row.id, detail=f"{request.payload.grant_type}: {row.scope}")

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        """The request is built by the route already."""
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, Any]:
        """(status, JSON body, headers) for the route to send."""
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals are listened to."""


def token_response(db: Session, *, form: dict[str, str], headers: dict[str, str],
                   address: str, now: datetime) -> tuple[int, dict[str, Any], list[Any]]:
    """Answer a token request: (status, JSON body, headers)."""
    server = ClinicAuthorizationServer(db, now, address)
    status, body, response_headers = server.create_token_response(
        FormRequest(token_url(), headers, form))
    return status, body, list(response_headers or [])


def actor_of_token(db: Session, raw: str, address: str, now: datetime
                   ) -> tuple[Actor, datetime] | None:
    """Who an OAuth access token acts for, with its scopes, and when it expires; None for a
    token that is unknown, expired, revoked, or whose client is disabled."""
    row = db.execute(select(OAuthToken).where(OAuthToken.token_hash == digest(raw))
                     ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= now \
            or not row.client.active:
        return None
    if row.user_pk is not None:
        return None  # user-approved tokens come with the app launch
    actor = clients.actor_of(row.client, address, row.client.site.time_zone)
    return replace(actor, scopes=frozenset(row.scope.split())), row.expires_at
