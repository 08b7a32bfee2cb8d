"""Registering the systems that call in: API, page and command line, bad input, reach, audit."""

import json

from joserfc.jwk import ECKey, KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.auth.models import RegisteredClient
from tests.cli_helpers import run_cli
from tests.conftest import csrf_of


def public_jwks() -> dict[str, object]:
    return KeySet([ECKey.generate_key("P-384", parameters={"kid": "k1"})]).as_dict(private=False)


def test_an_administrator_registers_lists_and_disables_a_cds_client(api, db: Session) -> None:
    created = api["admin"].post("/api/v1/clients", json={
        "name": "County EHR", "kind": "cds-client", "site": "A",
        "client_id": "https://ehr.county.example", "jwks": public_jwks()})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["has_jwks"] and body["site"] == "A" and body["active"]
    listed = api["admin"].get("/api/v1/clients").json()
    assert [c["name"] for c in listed] == ["County EHR"]
    disabled = api["admin"].post(f"/api/v1/clients/{body['id']}/disable")
    assert disabled.status_code == 200 and not disabled.json()["active"]
    actions = db.execute(select(AuditEvent.action).where(
        AuditEvent.record_type == "RegisteredClient").order_by(AuditEvent.seq)).scalars().all()
    assert actions == ["create", "disable"]


def test_a_backend_service_gets_system_scopes_and_a_made_up_client_id(api) -> None:
    created = api["admin"].post("/api/v1/clients", json={
        "name": "Registry export", "kind": "backend-service", "site": "A", "jwks": public_jwks()})
    assert created.status_code == 201, created.text
    assert created.json()["scopes"] == ["system/*.rs"] and len(created.json()["client_id"]) == 36


def test_bad_registrations_name_the_field_and_store_nothing(api, db: Session) -> None:
    private = KeySet([ECKey.generate_key("P-384", parameters={"kid": "k1"})]).as_dict(private=True)
    cases = {
        "kind": {"name": "X", "kind": "robot", "site": "A", "jwks": public_jwks()},
        "jwks": {"name": "Leaky", "kind": "backend-service", "site": "A", "jwks": private},
        "client_id": {"name": "No issuer", "kind": "cds-client", "site": "A",
                      "jwks": public_jwks()},
        "redirect_uris": {"name": "App", "kind": "smart-app", "site": "A", "jwks": public_jwks(),
                          "redirect_uris": ["http://app.example/cb"]},
        "scopes": {"name": "Greedy", "kind": "backend-service", "site": "A",
                   "jwks": public_jwks(), "scopes": "user/*.cruds"},
    }
    for field, payload in cases.items():
        response = api["admin"].post("/api/v1/clients", json=payload)
        assert response.status_code == 422, (field, response.text)
        assert any(e["field"] == field for e in response.json()["errors"]), response.json()
    assert db.execute(select(RegisteredClient)).first() is None


def test_reach_an_administrator_of_one_site_neither_registers_nor_sees_another_s(
        api, db: Session) -> None:
    made = api["admin"].post("/api/v1/clients", json={
        "name": "B EHR", "kind": "cds-client", "site": "B",
        "client_id": "https://ehr.b.example", "jwks": public_jwks()})
    assert made.status_code == 201
    for role in ("nurse_a", "frontdesk", "prescriber"):
        assert api[role].get("/api/v1/clients").status_code == 403


def test_the_page_registers_and_disables_and_shows_mistakes_again(web, db: Session) -> None:
    page = web["admin"].get("/admin/clients")
    assert page.status_code == 200 and "Register a client" in page.text
    bad = web["admin"].post("/admin/clients", data={
        "csrf_token": csrf_of(page.text), "name": "EHR", "kind": "cds-client", "site": "A",
        "client_id": "https://ehr.example", "jwks": "not json"})
    assert bad.status_code == 422 and "is not JSON" in bad.text and "https://ehr.example" in bad.text
    good = web["admin"].post("/admin/clients", data={
        "csrf_token": csrf_of(page.text), "name": "EHR", "kind": "cds-client", "site": "A",
        "client_id": "https://ehr.example", "jwks": json.dumps(public_jwks())},
        follow_redirects=False)
    assert good.status_code == 303
    client = db.execute(select(RegisteredClient)).scalar_one()
    shown = web["admin"].get("/admin/clients")
    assert "https://ehr.example" in shown.text
    web["admin"].post(f"/admin/clients/{client.id}/disable",
                      data={"csrf_token": csrf_of(shown.text)})
    db.refresh(client)
    assert not client.active


def test_the_command_line_adds_lists_and_disables(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/clients.db"
    assert run_cli(url, "db", "upgrade").returncode == 0
    assert run_cli(url, "demo", "--patients", "1").returncode == 0
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(public_jwks()))
    added = run_cli(url, "clients", "add", "--name", "County EHR", "--kind", "cds-client",
                    "--site", "HPC", "--client-id", "https://ehr.county.example",
                    "--jwks-file", str(keys))
    assert added.returncode == 0 and "registered cds-client 'County EHR'" in added.stdout
    listed = run_cli(url, "clients", "list")
    assert "County EHR" in listed.stdout and "active" in listed.stdout
    assert run_cli(url, "clients", "disable", "County EHR").returncode == 0
    assert "disabled" in run_cli(url, "clients", "list").stdout
    bad = run_cli(url, "clients", "add", "--name", "X", "--kind", "robot", "--site", "HPC",
                  "--jwks-file", str(keys))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Kind: unknown kind" in bad.stderr
