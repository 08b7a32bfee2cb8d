"""The audit trail: append-only in the database, hash-chained, verified by the CLI."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from ketaclinic import clock, sealer
from ketaclinic.audit import sealing
from ketaclinic.audit import service as audit
from ketaclinic.audit.models import AuditEvent
from ketaclinic.db import make_engine
from ketaclinic.kernel.actor import Actor
from tests.cli_helpers import run_cli
from tests.conftest import BACKENDS, drop_postgres_database, fresh_database_url

DROP_TRIGGERS = {
    "sqlite": ["DROP TRIGGER audit_event_no_update", "DROP TRIGGER audit_event_no_delete"],
    "postgresql": ["DROP TRIGGER audit_event_no_update_delete ON audit_event"],
}


def test_every_patient_read_and_write_is_audited(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    api["nurse_a"].get(f"/api/v1/patients/{pid}")
    api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={"heart_rate_bpm": 71})
    events = audit.for_patient(db=db, patient_id=pid, limit=5)
    actions = [(e.created_by, e.role, e.action, e.record_type) for e in events[:3]]
    assert actions == [
        ("nurse_a", "nurse", "create", "VitalSigns"),
        ("nurse_a", "nurse", "read", "Patient"),
        ("nurse_a", "nurse", "read", "Patient"),
    ]
    assert events[0].client == "testclient"


def test_logins_are_audited(api, db: Session) -> None:
    api["nurse_a"].get("/api/v1/me")
    login = db.execute(select(AuditEvent).where(AuditEvent.action == "login")
                       .order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    assert (login.created_by, login.detail) == ("nurse_a", "api token")


def test_rows_are_sealed_once_committed_and_an_edit_names_the_row(db: Session, world) -> None:
    assert audit.pending_seal(db) > 0, "the seed's events wait for the sealer"
    sealing.seal_pending(db, sealer.SEALED, now=clock.now())
    assert audit.pending_seal(db) == 0
    report = audit.verify(db=db)
    assert report.ok and report.unsealed == 0 and report.rows_checked >= 1
    victim = db.execute(select(AuditEvent).order_by(AuditEvent.seq).offset(3).limit(1)).scalar_one()
    for statement in DROP_TRIGGERS[world.backend]:
        db.execute(text(statement))
    db.execute(text("UPDATE audit_event SET detail = 'nothing to see' WHERE seq = :s"),
               {"s": victim.seq})
    db.expire_all()
    report = audit.verify(db=db)
    assert (report.ok, report.bad_ref, report.bad_name) == (False, victim.seq, str(victim.id))
    assert "edited" in report.reason


def test_an_unsealed_row_is_checked_by_its_own_mac(db: Session, world) -> None:
    audit.record(db=db, actor=Actor(username="nurse_a", role="nurse"), action="read")
    victim = db.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    report = audit.verify(db=db)
    assert report.ok and report.unsealed >= 1
    for statement in DROP_TRIGGERS[world.backend]:
        db.execute(text(statement))
    db.execute(text("UPDATE audit_event SET created_by = 'someone-else' WHERE seq = :s"),
               {"s": victim.seq})
    db.expire_all()
    report = audit.verify(db=db)
    assert not report.ok and report.bad_ref == victim.seq and "forged" in report.reason


def test_database_refuses_update_and_delete(db: Session) -> None:
    for statement in ("UPDATE audit_event SET detail = 'x'", "DELETE FROM audit_event"):
        with pytest.raises(DatabaseError, match="append-only"), db.begin_nested():
            db.execute(text(statement))


@pytest.fixture(params=BACKENDS)
def demo_database(request: pytest.FixtureRequest, tmp_path) -> str:
    """A freshly migrated and demo-seeded database, made by the real CLI."""
    url = fresh_database_url(request.param, tmp_path)
    for args in (("db", "upgrade"), ("demo", "--patients", "6")):
        result = run_cli(url, *args)
        assert result.returncode == 0, result.stderr
    yield url
    make_engine(url).dispose()
    if request.param == "postgresql":
        drop_postgres_database(url)


def test_cli_verify_passes_on_fresh_demo_then_fails_naming_the_edited_row(demo_database) -> None:
    ok = run_cli(demo_database, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "audit chain intact" in ok.stdout
    engine = make_engine(demo_database)
    backend = engine.dialect.name
    with engine.begin() as conn:
        row = conn.execute(text("SELECT seq, id FROM audit_event ORDER BY seq LIMIT 1 OFFSET 10")
                           ).one()
        for statement in DROP_TRIGGERS[backend]:
            conn.execute(text(statement))
        conn.execute(text("UPDATE audit_event SET created_by = 'someone-else' WHERE seq = :s"),
                     {"s": row.seq})
    engine.dispose()
    broken = run_cli(demo_database, "audit", "verify")
    assert broken.returncode == 1
    row_id = str(row.id).replace("-", "") if backend == "sqlite" else str(row.id)
    assert f"seq={row.seq}" in broken.stderr
    assert row_id.replace("-", "") in broken.stderr.replace("-", "")


def test_cli_audit_show_lists_who_touched_a_patient(demo_database) -> None:
    engine = make_engine(demo_database)
    with engine.connect() as conn:
        patient_id = conn.execute(text("SELECT patient_id FROM audit_event "
                                       "WHERE patient_id IS NOT NULL LIMIT 1")).scalar_one()
    engine.dispose()
    shown = run_cli(demo_database, "audit", "show", "--patient", patient_id)
    assert shown.returncode == 0, shown.stderr
    assert "demo-generator" in shown.stdout and "create" in shown.stdout
    again = run_cli(demo_database, "audit", "show", "--patient", patient_id)
    assert "audit show" in again.stdout, "looking at the trail is itself audited"
    bad = run_cli(demo_database, "audit", "show", "--patient", "not-a-uuid")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--patient" in bad.stderr


LEDGER_TRIGGERS = {
    "sqlite": ["DROP TRIGGER inventory_ledger_no_delete", "DROP TRIGGER audit_seal_no_delete",
               "DROP TRIGGER audit_event_no_delete"],
    "postgresql": ["DROP TRIGGER inventory_ledger_no_change ON inventory_ledger",
                   "DROP TRIGGER audit_seal_no_update_delete ON audit_seal",
                   "DROP TRIGGER audit_event_no_update_delete ON audit_event"],
}


def test_cli_anchor_then_a_cut_tail_and_an_unbalanced_ledger_are_found(demo_database, tmp_path
                                                                        ) -> None:
    anchor_file = tmp_path / "anchors" / "ketaclinic.anchors"
    taken = run_cli(demo_database, "audit", "anchor", "--to", str(anchor_file))
    assert taken.returncode == 0, taken.stderr
    assert '"audit"' in taken.stdout and '"ledger"' in taken.stdout
    for args in (("audit", "verify", "--anchor", str(anchor_file)),
                 ("inventory", "verify", "--anchor", str(anchor_file))):
        ok = run_cli(demo_database, *args)
        assert ok.returncode == 0, ok.stderr
        assert "intact" in ok.stdout and "matches the anchor" in ok.stdout
    engine = make_engine(demo_database)
    with engine.begin() as conn:
        for statement in LEDGER_TRIGGERS[engine.dialect.name]:
            conn.execute(text(statement))
        last = conn.execute(text("SELECT max(seq) FROM audit_event")).scalar_one()
        conn.execute(text("DELETE FROM audit_seal WHERE chain = 'audit' AND ref > :s"),
                     {"s": last - 5})
        conn.execute(text("DELETE FROM audit_event WHERE seq > :s"), {"s": last - 5})
        side = conn.execute(text("SELECT max(pk) FROM inventory_ledger WHERE kind = 'draw'")
                            ).scalar_one()
        conn.execute(text("DELETE FROM inventory_ledger WHERE pk = :p"), {"p": side})
    engine.dispose()
    cut = run_cli(demo_database, "audit", "verify", "--anchor", str(anchor_file))
    assert cut.returncode == 1 and "removed from the end" in cut.stderr
    unanchored = run_cli(demo_database, "audit", "verify")
    assert unanchored.returncode == 0 and "no anchor given" in unanchored.stderr
    ledger = run_cli(demo_database, "inventory", "verify")
    assert ledger.returncode == 1 and "gone" in ledger.stderr
    anchor_file.write_text(anchor_file.read_text().replace('"pos":', '"pos":1'))
    forged = run_cli(demo_database, "audit", "verify", "--anchor", str(anchor_file))
    assert forged.returncode == 2 and "does not check out" in forged.stderr
    missing = run_cli(demo_database, "audit", "verify", "--anchor", str(tmp_path / "none"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_the_derived_key_printed_and_set_keeps_the_chain_verifying(demo_database) -> None:
    printed = run_cli(demo_database, "audit", "key")
    assert printed.returncode == 0 and printed.stdout.startswith("KETACLINIC_AUDIT_KEY=")
    key = printed.stdout.strip().split("=", 1)[1]
    new_secret = "another-secret-key-of-at-least-32-characters!"
    kept = run_cli(demo_database, "audit", "verify", extra_env={
        "KETACLINIC_AUDIT_KEY": key, "KETACLINIC_SECRET_KEY": new_secret})
    assert kept.returncode == 0, kept.stderr
    lost = run_cli(demo_database, "audit", "verify", extra_env={
        "KETACLINIC_SECRET_KEY": new_secret})
    assert lost.returncode == 1 and "does not check out under the key" in lost.stderr
