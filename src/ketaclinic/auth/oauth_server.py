"""The OAuth 2.0 authorization server for registered clients, built on authlib's server
components: SMART App Launch (authorization code with PKCE S256, refresh tokens, an OpenID
Connect id token) and SMART Backend Services (`client_credentials` with a signed
`private_key_jwt` client assertion), issuing access tokens kept by hash."""

import hashlib
import secrets
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    InvalidRequestError,
    OAuth2Error,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit import service as audit
from ketaclinic.auth import actor_cache, client_jwt, clients, scopes, signing_key
from ketaclinic.auth import service as auth
from ketaclinic.auth.models import OAuthCode, OAuthToken, RegisteredClient, User
from ketaclinic.errors import NotFound
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Patient
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
    """An authorization or token request's parameters, as authlib reads them."""

    def __init__(self, uri: str, headers: dict[str, str], form: dict[str, str],
                 method: str = "POST") -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = BasicOAuth2Payload(form)
        self._form = form
        self.patient_pk: int | None = None  # the launch context the user chose

    @property
    def form(self) -> dict[str, str]:
        """The parameters."""
        return self._form

    @property
    def args(self) -> dict[str, str]:
        """The parameters (an authorization request carries them in its query)."""
        return self._form


class IssuedCode:
    """An authorization code row as authlib's grant reads it."""

    def __init__(self, row: OAuthCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        """The redirect URI the code was issued for."""
        return self.row.redirect_uri

    def get_scope(self) -> str:
        """The scopes the user approved."""
        return self.row.scope

    def get_nonce(self) -> str | None:
        """The OpenID Connect nonce the app sent."""
        return self.row.nonce or None

    def get_auth_time(self) -> int:
        """When the user approved."""
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> None:
        """No authentication context class is asserted."""

    def get_amr(self) -> None:
        """No authentication methods are asserted."""


class IssuedToken:
    """A stored token as authlib's refresh grant reads it."""

    def __init__(self, row: OAuthToken) -> None:
        self.row = row

    def check_client(self, client: OAuthClient) -> bool:
        """Whether the refresh token was issued to this client."""
        return client.row.pk == self.row.client_pk

    def get_scope(self) -> str:
        """The scopes it was issued with."""
        return self.row.scope


def _server_of(grant: Any) -> "ClinicAuthorizationServer":
    server: ClinicAuthorizationServer = grant.server
    return server


class AppAuthorizationCode(AuthorizationCodeGrant):
    """SMART App Launch: the code a user's approval gives an app, exchanged with its PKCE
    verifier (public apps) or a signed client assertion (confidential ones)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none", ASSERTION_METHOD]

    def save_authorization_code(self, code: str, request: FormRequest) -> None:
        """Keep the code's hash with what it stands for (one minute, once)."""
        server = _server_of(self)
        client: OAuthClient = request.client
        settings = get_settings()
        row = OAuthCode(
            code_hash=digest(code), client_pk=client.row.pk, user_pk=request.user.pk,
            patient_pk=request.patient_pk,
            scope=granted_scope(client, request.payload.scope, request.patient_pk),
            redirect_uri=request.payload.redirect_uri or client.get_default_redirect_uri() or "",
            code_challenge=request.payload.data.get("code_challenge", ""),
            code_challenge_method=request.payload.data.get("code_challenge_method", ""),
            nonce=str(request.payload.data.get("nonce") or "")[:255], auth_time=server.now,
            expires_at=server.now + timedelta(seconds=settings.oauth_code_s),
            created_by=request.user.username)
        server.db.add(row)
        server.db.flush()

    def query_authorization_code(self, code: str, client: OAuthClient) -> IssuedCode | None:
        """An unused, unexpired code of this client."""
        server = _server_of(self)
        # Locked: two exchanges of one code at once on PostgreSQL get one token between them.
        row = server.db.execute(select(OAuthCode).where(OAuthCode.code_hash == digest(code))
                                .with_for_update()).scalar_one_or_none()
        if row is None or row.client_pk != client.row.pk or row.used_at is not None \
                or row.expires_at <= server.now:
            return None
        return IssuedCode(row)

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        """A code works once: it is marked used (kept for the audit of what it gave)."""
        authorization_code.row.used_at = _server_of(self).now
        self.request.patient_pk = authorization_code.row.patient_pk

    def authenticate_user(self, authorization_code: IssuedCode) -> User | None:
        """The user who approved, if still active."""
        user = _server_of(self).db.get(User, authorization_code.row.user_pk)
        self.request.patient_pk = authorization_code.row.patient_pk
        return user if user is not None and user.active else None


class AppRefreshToken(RefreshTokenGrant):
    """A new access token (and a new refresh token: the old one stops) for an approval the user
    has not revoked."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none", ASSERTION_METHOD]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        """The live token this refresh token belongs to."""
        server = _server_of(self)
        row = server.db.execute(select(OAuthToken).where(
            OAuthToken.refresh_hash == digest(refresh_token)).with_for_update()
        ).scalar_one_or_none()
        if row is None or row.revoked_at is not None or row.refresh_expires_at is None \
                or row.refresh_expires_at <= server.now:
            return None
        return IssuedToken(row)

    def authenticate_user(self, refresh_token: IssuedToken) -> User | None:
        """The user behind it, if still active."""
        user = _server_of(self).db.get(User, refresh_token.row.user_pk)
        self.request.patient_pk = refresh_token.row.patient_pk
        return user if user is not None and user.active else None

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        """The refreshed token and its refresh token stop working."""
        refresh_token.row.revoked_at = _server_of(self).now


class S256Challenge(CodeChallenge):
    """PKCE as SMART App Launch 2 requires it: a challenge on every authorization request, by
    S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        """Refuse an authorization request without a PKCE challenge, then check its method."""
        if not grant.request.payload.data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE with S256 is required.")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIdConnect(OpenIDCode):
    """An id token for `openid` with `fhirUser` (a patient's own Patient resource), signed with
    the server's ES256 key."""

    def __init__(self, db: Session, now: datetime) -> None:
        super().__init__(require_nonce=False)
        self.db, self.now = db, now

    def resolve_client_private_key(self, client: OAuthClient) -> Any:
        """The server's signing key."""
        return signing_key.private_key()

    def get_client_algorithm(self, client: OAuthClient) -> str:
        """ES256."""
        return signing_key.ALGORITHM

    def get_encode_header(self, client: OAuthClient) -> dict[str, str]:
        """The algorithm and the key's kid."""
        return {"alg": signing_key.ALGORITHM, "kid": signing_key.private_key().kid or "",
                "typ": "JWT"}

    def get_client_claims(self, client: OAuthClient) -> dict[str, Any]:
        """Issuer, audience and lifetime, from the clinic's clock."""
        now = int(self.now.timestamp())
        return {"iss": get_settings().public_url.rstrip("/"), "aud": [client.get_client_id()],
                "iat": now, "exp": now + get_settings().oauth_user_token_s, "auth_time": now}

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        """Nonces are the app's to check in the id token."""
        return False

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        """`sub`, the name, and for a patient `fhirUser`: their own Patient."""
        info: dict[str, Any] = {"sub": str(user.id), "name": user.display_name}
        if "fhirUser" in scope.split() and user.patient_pk is not None:
            patient_id = self.db.execute(
                select(Patient.id).where(Patient.pk == user.patient_pk)).scalar_one()
            info["fhirUser"] = f"{fhir_base()}/Patient/{patient_id}"
        return info


def _new_token(**_: Any) -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def fhir_base() -> str:
    """The FHIR base URL under the public address: what an app's `aud` must name."""
    return get_settings().public_url.rstrip("/") + "/fhir"


def granted_scope(client: OAuthClient, requested: str | None, patient_pk: int | None) -> str:
    """The scopes an approval grants: those asked for within the client's registration, less
    `patient/` scopes and `launch/patient` when there is no patient to launch for."""
    granted = (client.get_allowed_scope(requested) or "").split()
    if patient_pk is None:
        granted = [s for s in granted if not s.startswith("patient/") and s != "launch/patient"]
    return " ".join(granted)


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
        self.register_grant(AppAuthorizationCode, [S256Challenge(required=True),
                                                   OpenIdConnect(db, now)])
        self.register_grant(AppRefreshToken)

    def query_client(self, client_id: str) -> OAuthClient | None:
        """An active registered client by its id."""
        row = clients.by_client_id(self.db, client_id)
        return OAuthClient(row) if row is not None and row.active else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Keep the token's hash with its client, user, patient, scopes and expiry, and audit its
        issue under the client's name (and the user's, when one approved it); the launch
        context goes into the answer as `patient`."""
        client: RegisteredClient = request.client.row
        user: User | None = request.user
        patient_pk = getattr(request, "patient_pk", None)
        if not {"offline_access", "online_access"} & set(token.get("scope", "").split()):
            token.pop("refresh_token", None)  # a refresh token only when the app asked for one
        refresh = token.get("refresh_token")
        row = OAuthToken(
            token_hash=digest(token["access_token"]),
            refresh_hash=digest(refresh) if refresh else None,
            client_pk=client.pk, user_pk=user.pk if user is not None else None,
            patient_pk=patient_pk, scope=token.get("scope", ""),
            expires_at=self.now + timedelta(seconds=int(token["expires_in"])),
            refresh_expires_at=(self.now + timedelta(seconds=get_settings().oauth_refresh_s)
                                if refresh else None),
            created_by=f"client:{client.name}")
        self.db.add(row)
        self.db.flush()
        if patient_pk is not None:
            token["patient"] = str(self.db.execute(select(Patient.id).where(
                Patient.pk == patient_pk)).scalar_one())
        actor = (replace(auth.actor_for(user, self.address), client=f"client:{client.name}")
                 if user is not None else
                 clients.actor_of(client, self.address, client.site.time_zone))
        audit.record(db=self.db, actor=actor, action="token", record_type="OAuthToken",
                     record_id=row.id, patient_id=token.get("patient"),
                     detail=f"{request.payload.grant_type} for client:{client.name}: "
                            f"{row.scope}")

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        """The request is built by the route already."""
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, Any]:
        """(status, JSON body, headers) for the route to send."""
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals are listened to."""


class AuthorizationRefused(Exception):
    """An authorization request that cannot go back to the app (unknown client, a redirect URI
    not registered, the wrong `aud`): shown to the user instead."""


def consent_grant(db: Session, *, user: User, params: dict[str, str], headers: dict[str, str],
                  now: datetime) -> tuple[ClinicAuthorizationServer, Any]:
    """Check an authorization request before the user is asked (client, redirect URI, PKCE
    S256, scopes, `aud`); AuthorizationRefused for one that cannot be answered to the app, or
    authlib's OAuth2Error (with its redirect URI) for one that can."""
    server = ClinicAuthorizationServer(db, now, "")
    if params.get("aud", "").rstrip("/") != fhir_base():
        raise AuthorizationRefused(f"The app asked for the FHIR server {params.get('aud')!r}; "
                                   f"this one is {fhir_base()}.")
    request = FormRequest(fhir_base(), headers, params, method="GET")
    try:
        grant = server.get_consent_grant(request, end_user=user)
    except OAuth2Error as error:
        if not error.redirect_uri:
            raise AuthorizationRefused(f"The app's request cannot be answered: "
                                       f"{error.description or error.error}.") from None
        raise
    return server, grant


def authorization_redirect(db: Session, *, user: User, params: dict[str, str],
                           headers: dict[str, str], approved: bool, patient_pk: int | None,
                           now: datetime) -> str:
    """Where the user's browser goes after approving or denying: the app's redirect URI with a
    code (or `error=access_denied`) and its state."""
    server, grant = consent_grant(db, user=user, params=params, headers=headers, now=now)
    grant.request.patient_pk = patient_pk
    _, _, response_headers = server.create_authorization_response(
        grant.request, grant_user=user if approved else None, grant=grant)
    location = dict(response_headers).get("Location", "")
    client: RegisteredClient = grant.request.client.row
    audit.record(db=db, actor=auth.actor_for(user), action="approve" if approved else "deny",
                 record_type="RegisteredClient", record_id=client.id,
                 detail=f"client:{client.name} {params.get('scope', '')[:300]}")
    return str(location)


def approvals_of(db: Session, user: User, now: datetime) -> list[tuple[RegisteredClient, str]]:
    """The apps holding a live token or refresh token of this user's, with their scopes."""
    rows = db.execute(select(OAuthToken).where(
        OAuthToken.user_pk == user.pk, OAuthToken.revoked_at.is_(None)).order_by(OAuthToken.pk)
    ).scalars().all()
    live: dict[int, tuple[RegisteredClient, str]] = {}
    for row in rows:
        if row.expires_at > now or (row.refresh_expires_at and row.refresh_expires_at > now):
            live[row.client_pk] = (row.client, row.scope)
    return list(live.values())


def revoke_approval(db: Session, *, user: User, client_ref: str, now: datetime) -> None:
    """End an app's access for this user: every token and refresh token of theirs it holds."""
    rows = db.execute(select(OAuthToken).join(RegisteredClient).where(
        OAuthToken.user_pk == user.pk, OAuthToken.revoked_at.is_(None),
        RegisteredClient.id == _uuid_or_none(client_ref))).scalars().all()
    if not rows:
        raise NotFound("no app of yours with that id")
    for row in rows:
        row.revoked_at = now
    db.flush()
    actor_cache.clear()
    audit.record(db=db, actor=auth.actor_for(user), action="revoke",
                 record_type="RegisteredClient", record_id=rows[0].client.id,
                 detail=f"client:{rows[0].client.name}: {len(rows)} tokens")


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


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
    granted = frozenset(row.scope.split())
    if row.user_pk is None:
        actor = clients.actor_of(row.client, address, row.client.site.time_zone)
        return replace(actor, scopes=granted), row.expires_at
    user = db.get(User, row.user_pk)
    if user is None or not user.active:
        return None
    only_patient_scopes = all(not s.startswith(("user/", "system/")) for s in granted)
    context = row.patient_pk if only_patient_scopes and user.patient_pk is None else None
    actor = auth.actor_for(user, f"client:{row.client.name}")
    return replace(actor, scopes=granted, patient_context_pk=context), row.expires_at
