"""CDS Hooks 2.0 security: an EHR calls the screening service with a JWT it signed with its own
key, and the service trusts the issuers registered with their JWK Sets."""

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit.models import AuditEvent
from ketaclinic.auth import clients
from ketaclinic.kernel.actor import Actor
from ketaclinic.settings import get_settings
from tests.integrations.test_cds_hooks import ANEURYSM, hook_request

SERVICE = "/cds-services/ketamine-screening"
ALGORITHMS = ["RS384", "ES384"]
ADMIN = Actor(username="admin-test", role="system")


def service_url(path: str = SERVICE) -> str:
    return get_settings().public_url.rstrip("/") + path


class Ehr:
    """An EHR's CDS client: its issuer URL and its signing key."""

    def __init__(self, issuer: str, key: RSAKey | ECKey, alg: str) -> None:
        self.issuer, self.key, self.alg = issuer, key, alg

    def public_jwks(self) -> str:
        return json.dumps(KeySet([self.key]).as_dict(private=False))

    def token(self, **changes: Any) -> str:
        now = int(clock.now().timestamp())
        key = changes.pop("key", None) or self.key
        claims: dict[str, Any] = {"iss": self.issuer, "sub": "ketaclinic-screening",
                                  "aud": service_url(), "iat": now, "exp": now + 300,
                                  "jti": str(uuid.uuid4())}
        header = {"alg": self.alg, "typ": "JWT", "kid": self.key.kid}
        header.update(changes.pop("header", {}))
        claims.update(changes)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(header, claims, key, algorithms=ALGORITHMS)


def rsa_ehr() -> Ehr:
    return Ehr("https://ehr-rsa.example.org", RSAKey.generate_key(
        2048, parameters={"kid": "rsa-1", "use": "sig", "alg": "RS384"}), "RS384")


def ec_ehr() -> Ehr:
    return Ehr("https://ehr-ec.example.org", ECKey.generate_key(
        "P-384", parameters={"kid": "ec-1", "use": "sig", "alg": "ES384"}), "ES384")


@pytest.fixture
def registered(db: Session) -> Callable[[Ehr, str], Ehr]:
    def register(ehr: Ehr, name: str) -> Ehr:
        clients.register(db=db, name=name, kind=clients.CDS_CLIENT, site_code="A",
                         client_id=ehr.issuer, jwks=ehr.public_jwks(), actor=ADMIN)
        return ehr
    return register


def call(anon: TestClient, token: str, path: str = SERVICE) -> Any:
    return anon.post(path, json=hook_request("order-select", [ANEURYSM]),
                     headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("make", [rsa_ehr, ec_ehr], ids=["RS384", "ES384"])
def test_a_registered_ehr_gets_its_cards_with_a_signed_jwt(anon, db: Session, registered,
                                                           make: Callable[[], Ehr]) -> None:
    ehr = registered(make(), "Hospital EHR")
    response = call(anon, ehr.token())
    assert response.status_code == 200, response.text
    critical = [c for c in response.json()["cards"] if c["indicator"] == "critical"]
    assert critical and "Aneurysmal vascular disease" in critical[0]["summary"]
    event = db.execute(select(AuditEvent).where(AuditEvent.action == "cds-screen")).scalar_one()
    assert event.created_by == "client:Hospital EHR" and event.role == clients.CDS_CLIENT


REFUSALS: dict[str, Callable[[Ehr], str]] = {
    "wrong aud": lambda ehr: ehr.token(aud="https://elsewhere.example/cds-services/x"),
    "aud of the other service": lambda ehr: ehr.token(
        aud=service_url("/cds-services/ketamine-screening-patient-view")),
    "expired": lambda ehr: ehr.token(iat=int(clock.now().timestamp()) - 900,
                                     exp=int(clock.now().timestamp()) - 600),
    "exp more than five minutes ahead": lambda ehr: ehr.token(
        exp=int(clock.now().timestamp()) + 3600),
    "no jti": lambda ehr: ehr.token(jti=None),
    "issued in the future": lambda ehr: ehr.token(iat=int(clock.now().timestamp()) + 600),
    "unknown kid": lambda ehr: ehr.token(header={"kid": "rotated-away"}),
    "signed by an unregistered key": lambda ehr: ehr.token(
        key=RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})),
    "unregistered issuer": lambda ehr: Ehr("https://stranger.example", RSAKey.generate_key(
        2048, parameters={"kid": "rsa-1"}), "RS384").token(),
    "alg none": lambda ehr: _unsigned(ehr),
    "jku not registered": lambda ehr: ehr.token(header={"jku": "https://evil.example/jwks"}),
}


def _unsigned(ehr: Ehr) -> str:
    signed = ehr.token()
    _, body, _ = signed.split(".")
    return f"eyJhbGciOiJub25lIn0.{body}."


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_jwt_that_fails_a_check_gets_401_and_no_cards(anon, db: Session, registered,
                                                        case: str) -> None:
    ehr = registered(rsa_ehr(), "Hospital EHR")
    response = call(anon, REFUSALS[case](ehr))
    assert response.status_code == 401, (case, response.text)
    assert "cards" not in response.json() and response.json()["detail"]
    assert not db.execute(select(AuditEvent).where(AuditEvent.action == "cds-screen")).first()


def test_a_replayed_jti_is_refused(anon, db: Session, registered) -> None:
    ehr = registered(ec_ehr(), "Hospital EHR")
    token = ehr.token()
    assert call(anon, token).status_code == 200
    again = call(anon, token)
    assert again.status_code == 401 and "replay" in again.json()["detail"]


def test_a_disabled_client_is_refused_and_enabled_again_accepted(anon, db: Session,
                                                                 registered) -> None:
    ehr = registered(rsa_ehr(), "Hospital EHR")
    clients.set_active(db=db, client_ref="Hospital EHR", active=False, actor=ADMIN)
    refused = call(anon, ehr.token())
    assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
    clients.set_active(db=db, client_ref="Hospital EHR", active=True, actor=ADMIN)
    assert call(anon, ehr.token()).status_code == 200


def test_a_backend_service_key_cannot_call_cds(anon, db: Session) -> None:
    ehr = rsa_ehr()
    clients.register(db=db, name="Exporter", kind=clients.BACKEND_SERVICE, site_code="A",
                     client_id=ehr.issuer, jwks=ehr.public_jwks(), actor=ADMIN)
    assert call(anon, ehr.token()).status_code == 401


def test_a_staff_token_still_works(api, db: Session) -> None:
    response = api["prescriber"].post(SERVICE, json=hook_request("order-select", [ANEURYSM]))
    assert response.status_code == 200 and response.json()["cards"]


class FakeJwksServer:
    """Stands in for the EHR's https JWK Set URL: counts fetches, serves the current keys."""

    def __init__(self, ehr: Ehr) -> None:
        self.ehr, self.fetches = ehr, 0

    def urlopen(self, request: Any, timeout: float) -> Any:
        import io
        self.fetches += 1
        assert request.full_url == "https://ehr-rsa.example.org/jwks.json" and timeout > 0
        return io.BytesIO(self.ehr.public_jwks().encode())


def test_keys_registered_by_url_are_fetched_cached_and_refetched_on_rotation(
        anon, db: Session, monkeypatch) -> None:
    import urllib.request

    from ketaclinic.auth import client_jwt

    ehr = rsa_ehr()
    clients.register(db=db, name="EHR by URL", kind=clients.CDS_CLIENT, site_code="A",
                     client_id=ehr.issuer, jwks_url="https://ehr-rsa.example.org/jwks.json",
                     actor=ADMIN)
    refused = call(anon, ehr.token())
    assert refused.status_code == 401 and "KETACLINIC_CLIENT_JWKS_FETCH" in refused.json()["detail"]
    monkeypatch.setenv("KETACLINIC_CLIENT_JWKS_FETCH", "true")
    get_settings.cache_clear()
    client_jwt._fetched.clear()
    server = FakeJwksServer(ehr)
    monkeypatch.setattr(urllib.request, "urlopen", server.urlopen)
    try:
        assert call(anon, ehr.token()).status_code == 200
        assert call(anon, ehr.token()).status_code == 200
        assert server.fetches == 1  # cached
        ehr.key = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})  # the EHR rotates
        assert call(anon, ehr.token()).status_code == 200
        assert server.fetches == 2
    finally:
        get_settings.cache_clear()
        client_jwt._fetched.clear()
