"""SMART Backend Services: a registered system signs a client assertion, gets a system-scoped
token with no user, and bulk-exports its site's data."""

import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit.models import AuditEvent
from ketaclinic.auth import clients, oauth_server
from ketaclinic.clinics.models import Site
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.models import Condition, PatientMrn
from tests.fhir.test_bulk_export import ASYNC, download

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ADMIN = Actor(username="admin-test", role="system")


class Service:
    """A backend service: its client id and signing key."""

    def __init__(self, db: Session, site: str = "A", name: str = "Registry export") -> None:
        self.key = ECKey.generate_key("P-384", parameters={"kid": "svc-1"})
        row = clients.register(db=db, name=name, kind=clients.BACKEND_SERVICE, site_code=site,
                               jwks=json.dumps(KeySet([self.key]).as_dict(private=False)),
                               actor=ADMIN)
        self.client_id = row.client_id

    def assertion(self, key: ECKey | None = None, **changes: Any) -> str:
        now = int(clock.now().timestamp())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": oauth_server.token_url(),
                  "exp": now + 240, "jti": str(uuid.uuid4()), **changes}
        return jwt.encode({"alg": "ES384", "kid": "svc-1", "typ": "JWT"}, claims,
                          key or self.key, algorithms=["ES384"])

    def token_request(self, anon: TestClient, assertion: str, scope: str = "system/*.rs") -> Any:
        return anon.post(oauth_server.TOKEN_PATH, data={
            "grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})

    def client(self, app: object, anon: TestClient) -> TestClient:
        answer = self.token_request(anon, self.assertion())
        assert answer.status_code == 200, answer.text
        session = TestClient(app, base_url="https://testserver")
        session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        return session


def test_discovery_names_the_token_endpoint_and_its_algorithms(anon) -> None:
    for path in ("/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"):
        found = anon.get(path).json()
        assert found["token_endpoint"] == oauth_server.token_url()
        assert "private_key_jwt" in found["token_endpoint_auth_methods_supported"]
        assert "client_credentials" in found["grant_types_supported"]
        assert set(found["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384",
                                                                                  "ES384"}


def test_a_signed_assertion_gets_a_short_system_token(anon, db: Session) -> None:
    service = Service(db)
    answer = service.token_request(anon, service.assertion())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"].lower() == "bearer" and body["scope"] == "system/*.rs"
    assert body["expires_in"] == 300 and "refresh_token" not in body
    assert answer.headers["cache-control"] == "no-store"
    issued = db.execute(select(AuditEvent).where(AuditEvent.action == "token")).scalar_one()
    assert issued.created_by == "client:Registry export"


def test_bulk_export_with_the_token_matches_the_site_s_records(app, anon, db: Session,
                                                               world) -> None:
    service = Service(db)
    session = service.client(app, anon)
    kicked = session.get("/fhir/$export", headers=ASYNC)
    assert kicked.status_code == 202, kicked.text
    status = session.get(kicked.headers["content-location"].replace("https://testserver", ""))
    assert status.status_code == 200, status.text
    files = download(session, status.json())
    site_a = db.execute(select(Site.pk).where(Site.code == "A")).scalar_one()
    at_a = select(PatientMrn.patient_pk).where(PatientMrn.site_pk == site_a)
    assert sorted(p["id"] for p in files["Patient"]) == sorted(
        [world.patients["p_a1"], world.patients["p_a2"]])
    assert len(files["Condition"]) == db.execute(select(func.count()).select_from(Condition)
                                                 .where(Condition.patient_pk.in_(at_a))
                                                 ).scalar_one()
    exports = db.execute(select(AuditEvent.created_by).where(AuditEvent.action == "export")
                         ).scalars().all()
    assert exports == ["client:Registry export"]
    assert session.get("/fhir/Group/B/$export", headers=ASYNC).status_code == 404


def test_the_token_opens_only_what_its_scopes_and_kind_allow(app, anon, db: Session,
                                                             world) -> None:
    session = Service(db).client(app, anon)
    assert session.get(f"/fhir/Patient/{world.patients['p_a1']}").status_code == 200
    assert session.get(f"/fhir/Patient/{world.patients['p_b1']}").status_code == 404
    assert session.post("/fhir/Patient", json={"resourceType": "Patient"}).status_code == 403
    assert session.get(f"/api/v1/patients/{world.patients['p_a1']}").status_code == 403
    narrow = Service(db, name="Conditions only")
    token = narrow.token_request(anon, narrow.assertion(), scope="system/Condition.rs").json()
    assert token["scope"] == "system/Condition.rs"
    only = TestClient(app, base_url="https://testserver",
                      headers={"Authorization": f"Bearer {token['access_token']}"})
    assert only.get(f"/fhir/Condition?patient={world.patients['p_a1']}").status_code == 200
    assert only.get(f"/fhir/Patient/{world.patients['p_a1']}").status_code == 403
    assert only.get("/fhir/$export", headers=ASYNC).status_code == 403


def test_bad_assertions_get_invalid_client_and_no_token(anon, db: Session) -> None:
    service = Service(db)
    used = service.assertion()
    assert service.token_request(anon, used).status_code == 200
    stranger = ECKey.generate_key("P-384", parameters={"kid": "svc-1"})
    now = int(clock.now().timestamp())
    cases = {
        "replayed": used,
        "wrong key": service.assertion(key=stranger),
        "wrong aud": service.assertion(aud="https://elsewhere.example/token"),
        "expired": service.assertion(exp=now - 120),
        "sub not iss": service.assertion(sub="someone-else"),
        "not a JWT": "not-a-jwt",
    }
    for case, assertion in cases.items():
        answer = service.token_request(anon, assertion)
        assert answer.status_code in (400, 401), (case, answer.text)
        assert answer.json()["error"] == "invalid_client", (case, answer.json())
        assert "access_token" not in answer.json()
    too_wide = service.token_request(anon, service.assertion(), scope="system/*.cruds")
    assert too_wide.status_code == 400 and too_wide.json()["error"] == "invalid_scope"


def test_a_disabled_client_s_token_stops_working(app, anon, db: Session, world) -> None:
    service = Service(db)
    session = service.client(app, anon)
    assert session.get(f"/fhir/Patient/{world.patients['p_a1']}").status_code == 200
    clients.set_active(db=db, client_ref="Registry export", active=False, actor=ADMIN)
    assert session.get(f"/fhir/Patient/{world.patients['p_a1']}").status_code == 401
    answer = service.token_request(anon, service.assertion())
    assert answer.json()["error"] == "invalid_client"
