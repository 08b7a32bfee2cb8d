"""Checking a JWT a registered client signed: the key by `kid` from that client's JWK Set, the
audience, the lifetime, and the JWT id used once (CDS Hooks 2.0, SMART Backend Services)."""

import json
import threading
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketaclinic.auth import clients
from ketaclinic.auth.models import ClientJwtSeen, RegisteredClient
from ketaclinic.errors import NotAuthenticated
from ketaclinic.settings import get_settings

JWKS_FETCH_TIMEOUT_S = 5.0
JWKS_MAX_BYTES = 200_000
_fetched: dict[str, tuple[datetime, KeySet]] = {}
_fetched_lock = threading.Lock()


class ClientJwtRefused(NotAuthenticated):
    """A client's JWT that is not accepted; the detail says why (it goes back to the client)."""


@dataclass(frozen=True)
class VerifiedJwt:
    """A client's JWT that passed every check."""

    client: RegisteredClient
    claims: dict[str, Any]


def looks_like_jwt(raw: str) -> bool:
    """Whether a bearer credential has the shape of a signed JWT (three base64url parts)."""
    return raw.count(".") == 2 and raw.startswith("eyJ")


def _unverified(raw: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        compact = extract_compact(raw.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError):
        raise ClientJwtRefused("The bearer token is not a signed JWT.") from None
    if not isinstance(claims, dict):
        raise ClientJwtRefused("The JWT's payload is not a JSON object.")
    return compact.headers(), claims


def _fetch(url: str) -> KeySet:
    if not url.startswith("https://"):
        raise ClientJwtRefused("The client's JWK Set URL is not https.")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (https only)
    try:
        with urllib.request.urlopen(request, timeout=JWKS_FETCH_TIMEOUT_S) as answer:  # noqa: S310
            text = answer.read(JWKS_MAX_BYTES).decode("utf-8")
    except (OSError, UnicodeError) as exc:
        raise ClientJwtRefused(f"The client's JWK Set could not be fetched ({exc}).") from None
    try:
        return clients.key_set_from_text(text)
    except ValueError as exc:
        raise ClientJwtRefused(f"The client's JWK Set at its URL is not usable: {exc}") from None


def _key_set(client: RegisteredClient, now: datetime, fresh: bool = False) -> KeySet:
    if client.jwks:
        return clients.key_set_from_text(client.jwks)
    if not client.jwks_url:
        raise ClientJwtRefused("The client has no registered keys (a public app): its JWTs "
                               "cannot be checked.")
    settings = get_settings()
    if not settings.client_jwks_fetch:
        raise ClientJwtRefused("The client's keys are registered by URL and this server does not "
                               "fetch them (KETACLINIC_CLIENT_JWKS_FETCH is off): paste its JWK Set.")
    with _fetched_lock:
        cached = _fetched.get(client.jwks_url)
    if cached and not fresh and now - cached[0] < timedelta(seconds=settings.client_jwks_cache_s):
        return cached[1]
    keys = _fetch(client.jwks_url)
    with _fetched_lock:
        _fetched[client.jwks_url] = (now, keys)
    return keys


def _decode(raw: str, client: RegisteredClient, header: dict[str, Any], now: datetime) -> Any:
    try:
        return jwt.decode(raw, _key_set(client, now), algorithms=clients.ALGORITHMS)
    except InvalidKeyIdError:
        if client.jwks_url and not client.jwks:  # the client may have rotated its keys
            try:
                return jwt.decode(raw, _key_set(client, now, fresh=True),
                                  algorithms=clients.ALGORITHMS)
            except JoseError:
                pass
        raise ClientJwtRefused(f"No key with kid {str(header.get('kid'))[:80]!r} in the "
                               f"client's registered JWK Set.") from None
    except JoseError:
        raise ClientJwtRefused("The JWT's signature does not verify with the client's key.") \
            from None


def _check_claims(claims: dict[str, Any], *, audience: str, now: datetime,
                  require_iat: bool) -> None:
    settings = get_settings()
    registry = JWTClaimsRegistry(
        now=int(now.timestamp()), leeway=settings.client_jwt_leeway_s,
        iss={"essential": True}, aud={"essential": True, "value": audience},
        exp={"essential": True}, jti={"essential": True}, iat={"essential": require_iat})
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise ClientJwtRefused("The JWT has expired.") from None
    except MissingClaimError as exc:
        raise ClientJwtRefused(f"The JWT lacks a required claim ({exc.claim}).") from None
    except InvalidClaimError as exc:
        hint = f": it must be {audience}" if exc.claim == "aud" else f" ({exc.description})"
        raise ClientJwtRefused(f"The JWT's {exc.claim} claim is not accepted{hint}.") from None
    except JoseError as exc:
        raise ClientJwtRefused(f"The JWT is not accepted ({exc.description}).") from None
    if not isinstance(claims.get("exp"), int | float) or (
            claims["exp"] - now.timestamp()
            > settings.client_jwt_max_lifetime_s + settings.client_jwt_leeway_s):
        raise ClientJwtRefused(f"The JWT's exp is more than {settings.client_jwt_max_lifetime_s} "
                               "seconds ahead.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 255:
        raise ClientJwtRefused("The JWT's jti must be a string of 1 to 255 characters.")


def _use_once(db: Session, client: RegisteredClient, jti: str, exp: float, now: datetime) -> None:
    leeway = timedelta(seconds=get_settings().client_jwt_leeway_s)
    db.execute(delete(ClientJwtSeen).where(ClientJwtSeen.expires_at < now - leeway))
    expires_at = datetime.fromtimestamp(exp, tz=now.tzinfo)
    try:
        with db.begin_nested():
            db.add(ClientJwtSeen(client_pk=client.pk, jti=jti, expires_at=expires_at))
            db.flush()
    except IntegrityError:
        raise ClientJwtRefused("The JWT's jti has been used before (a replay).") from None


def verify(db: Session, raw: str, *, audience: str, kinds: set[str], now: datetime,
           require_iat: bool = True, sub_is_iss: bool = False) -> VerifiedJwt:
    """The client and claims of a JWT signed by an active registered client of one of these
    kinds, for this audience, unexpired and not seen before; ClientJwtRefused saying why."""
    header, claims = _unverified(raw)
    if header.get("alg") not in clients.ALGORITHMS:
        raise ClientJwtRefused(f"The JWT's alg {str(header.get('alg'))[:20]!r} is not accepted "
                               f"({', '.join(clients.ALGORITHMS)}).")
    issuer = claims.get("iss")
    client = clients.by_client_id(db, issuer) if isinstance(issuer, str) else None
    if client is None or client.kind not in kinds:
        raise ClientJwtRefused(f"The issuer {str(issuer)[:200]!r} is not a registered client "
                               "of this service.")
    if not client.active:
        raise ClientJwtRefused(f"The client {client.name!r} is disabled.")
    if header.get("jku") and header["jku"] != client.jwks_url:
        raise ClientJwtRefused("The JWT's jku is not the client's registered JWK Set URL.")
    token = _decode(raw, client, header, now)
    _check_claims(token.claims, audience=audience, now=now, require_iat=require_iat)
    if sub_is_iss and token.claims.get("sub") != issuer:
        raise ClientJwtRefused("The JWT's sub must equal its iss (the client_id).")
    _use_once(db, client, token.claims["jti"], float(token.claims["exp"]), now)
    return VerifiedJwt(client=client, claims=dict(token.claims))
