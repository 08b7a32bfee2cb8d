"""Registered clients: the other systems allowed to call in (an EHR's CDS client, a SMART app, a
backend service), each with the public JWK Set its signed JWTs are checked against."""

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ketaclinic.audit import service as audit
from ketaclinic.auth import actor_cache
from ketaclinic.auth.models import RegisteredClient
from ketaclinic.clinics.models import Site
from ketaclinic.errors import Conflict, FieldProblem, InvalidInput, NotFound
from ketaclinic.kernel.actor import Actor

CDS_CLIENT = "cds-client"
SMART_APP = "smart-app"
BACKEND_SERVICE = "backend-service"
KINDS = {
    CDS_CLIENT: "CDS client (an EHR calling the CDS Hooks services)",
    SMART_APP: "SMART app (launched by a user, acts with that user's rights)",
    BACKEND_SERVICE: "Backend service (no user: bulk export for its site)",
}
# The signature algorithms CDS Hooks 2.0 and SMART Backend Services require servers to accept.
ALGORITHMS = ["RS384", "ES384"]
KEY_TYPES = {"RSA", "EC"}
SCOPE_PATTERN = re.compile(
    r"^(?:(?:patient|user|system)/(?:\*|[A-Z][A-Za-z]{1,40})\.(?:c?r?u?d?s?|read|write|\*)"
    r"|launch|launch/patient|openid|fhirUser|offline_access|online_access)$")
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{3,300}$")
NAME_PATTERN = re.compile(r"^[^\x00-\x1f]{2,100}$")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def key_set_from_text(text: str, field: str = "jwks") -> KeySet:
    """A public JWK Set from its JSON text; InvalidInput naming the field when it is not one
    (not JSON, no keys, a private key, a key without `kid`, a key type other than RSA or EC)."""
    def refuse(message: str) -> InvalidInput:
        return InvalidInput([FieldProblem(field, message,
                                          'a JSON Web Key Set {"keys": [...]} of public RSA or '
                                          "EC keys, each with a kid")])
    try:
        data = json.loads(text)
    except ValueError:
        raise refuse("is not JSON") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise refuse("has no keys")
    for key in keys:
        if key.get("kty") not in KEY_TYPES:
            raise refuse(f"key type {key.get('kty')!r} is not accepted")
        if not isinstance(key.get("kid"), str) or not key["kid"]:
            raise refuse("a key has no kid")
        if "d" in key:
            raise refuse(f"key {key['kid']!r} is a private key: paste the public keys only")
    try:
        return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as exc:
        raise refuse(f"a key cannot be read ({str(exc)[:80]})") from None


def _redirect_problems(uris: list[str]) -> list[FieldProblem]:
    accepted = "https:// addresses, or http://localhost or 127.0.0.1 for an app on the device"
    for uri in uris:
        scheme, _, rest = uri.partition("://")
        host = rest.split("/", 1)[0].rsplit(":", 1)[0] if rest else ""
        if not host or not (scheme == "https" or (scheme == "http" and host in LOCAL_HOSTS)):
            return [FieldProblem("redirect_uris", f"{uri!r} is not accepted", accepted)]
    return []


def register(
    *,
    db: Session,
    name: str,
    kind: str,
    site_code: str,
    client_id: str = "",
    jwks: str = "",
    jwks_url: str = "",
    redirect_uris: Sequence[str] = (),
    scopes: str = "",
    actor: Actor,
) -> RegisteredClient:
    """Register a client for one of the actor's sites; a CDS client's id is its issuer URL, an
    app's or backend service's id is made up here unless given."""
    problems: list[FieldProblem] = []
    name = name.strip()
    if not NAME_PATTERN.match(name):
        problems.append(FieldProblem("name", "is required", "2 to 100 characters"))
    if kind not in KINDS:
        problems.append(FieldProblem("kind", f"unknown kind {kind!r}", ", ".join(KINDS)))
    client_id = client_id.strip() or ("" if kind == CDS_CLIENT else str(uuid.uuid4()))
    if not CLIENT_ID_PATTERN.match(client_id):
        problems.append(FieldProblem(
            "client_id", "is required" if not client_id else "is not accepted",
            "for a CDS client the issuer (iss) its JWTs carry, e.g. https://ehr.example.org; "
            "3 to 300 URL characters"))
    site = db.execute(select(Site).where(Site.code == site_code.strip().upper())
                      ).scalar_one_or_none()
    if site is None or (actor.role != "system" and site.pk not in actor.site_pks):
        mine = db.execute(select(Site.code).where(Site.pk.in_(actor.site_pks))
                          if actor.role != "system" else select(Site.code)).scalars()
        problems.append(FieldProblem("site", f"{site_code!r} is not one of your sites",
                                     ", ".join(sorted(mine))))
    jwks, jwks_url = jwks.strip(), jwks_url.strip()
    if jwks:
        try:
            key_set_from_text(jwks)
        except InvalidInput as exc:
            problems += exc.problems
    elif jwks_url and not jwks_url.startswith("https://"):
        problems.append(FieldProblem("jwks_url", "is not an https:// URL", "https://..."))
    elif not jwks_url and kind != SMART_APP:  # an app without keys is public and uses PKCE
        problems.append(FieldProblem("jwks", "a JWK Set or its https:// URL is required",
                                     "the public keys pasted as JSON, or jwks_url"))
    uris = [u.strip() for u in redirect_uris if u.strip()]
    problems += _redirect_problems(uris)
    if kind == SMART_APP and not uris:
        problems.append(FieldProblem("redirect_uris", "an app needs at least one",
                                     "https:// addresses"))
    scope_list = scopes.split() or ([
        "system/*.rs"] if kind == BACKEND_SERVICE else [])
    bad = [s for s in scope_list if not SCOPE_PATTERN.match(s)]
    if bad or (kind == BACKEND_SERVICE and any(not s.startswith("system/") for s in scope_list)):
        problems.append(FieldProblem("scopes", f"{' '.join(bad or scope_list)!r} is not accepted",
                                     "SMART v2 scopes such as patient/*.rs user/Observation.rs "
                                     "system/*.rs launch/patient openid fhirUser"))
    if problems:
        raise InvalidInput(problems)
    assert site is not None
    taken = db.execute(select(RegisteredClient.pk).where(
        (RegisteredClient.client_id == client_id) | (RegisteredClient.name == name))).first()
    if taken:
        raise Conflict(f"a client named {name!r} or with id {client_id!r} is registered already")
    client = RegisteredClient(client_id=client_id, name=name, kind=kind, site_pk=site.pk,
                              jwks=jwks, jwks_url=jwks_url, redirect_uris="\n".join(uris),
                              scopes=" ".join(scope_list), created_by=actor.username)
    db.add(client)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="RegisteredClient",
                 record_id=client.id, detail=f"{kind} {name!r} ({client_id}) for {site.code}")
    return client


def clients_of(*, db: Session, actor: Actor) -> Sequence[RegisteredClient]:
    """The clients registered for the actor's sites (every client for the command line)."""
    query = select(RegisteredClient).options(selectinload(RegisteredClient.site)
                                             ).order_by(RegisteredClient.name)
    if actor.role != "system":
        query = query.where(RegisteredClient.site_pk.in_(actor.site_pks))
    return db.execute(query).scalars().all()


def managed_client(*, db: Session, client_ref: str, actor: Actor) -> RegisteredClient:
    """One of the actor's clients by its public id, client id or name; NotFound otherwise."""
    for client in clients_of(db=db, actor=actor):
        if client_ref in (str(client.id), client.client_id, client.name):
            return client
    raise NotFound(f"no registered client {client_ref!r} at your sites")


def set_active(*, db: Session, client_ref: str, active: bool, actor: Actor) -> RegisteredClient:
    """Disable a client (every JWT and token of its is refused from now on) or enable it again."""
    client = managed_client(db=db, client_ref=client_ref, actor=actor)
    if client.active != active:
        client.active = active
        db.flush()
        actor_cache.clear()  # its tokens remembered by this process stop at once
        audit.record(db=db, actor=actor, action="enable" if active else "disable",
                     record_type="RegisteredClient", record_id=client.id,
                     detail=f"{client.kind} {client.name!r}")
    return client


def by_client_id(db: Session, client_id: str) -> RegisteredClient | None:
    """The registered client whose id (a JWT's `iss`) this is, active or not."""
    return db.execute(select(RegisteredClient).where(RegisteredClient.client_id == client_id)
                      ).scalar_one_or_none()


def actor_of(client: RegisteredClient, address: str, time_zone: str) -> Actor:
    """The identity a client's calls are made and audited under: its name, its kind, its site."""
    return Actor(username=f"client:{client.name}", role=client.kind,
                 site_pks=frozenset({client.site_pk}), client=address, time_zone=time_zone)


def describe(client: RegisteredClient) -> dict[str, Any]:
    """The client as the API shows it (its public keys, never anything secret)."""
    return {"id": str(client.id), "client_id": client.client_id, "name": client.name,
            "kind": client.kind, "site": client.site.code, "jwks_url": client.jwks_url,
            "has_jwks": bool(client.jwks), "redirect_uris": client.redirect_uris.split(),
            "scopes": client.scopes.split(), "active": client.active,
            "created_at": client.created_at.isoformat(), "created_by": client.created_by}
