"""Migrations run up and down on both backends and match the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ketaclinic import migrate
from ketaclinic.db import make_engine
from ketaclinic.model_registry import metadata


def test_upgrade_downgrade_upgrade_and_no_drift(empty_database: str) -> None:
    engine = make_engine(empty_database)
    migrate.upgrade(engine)
    migrate.downgrade(engine)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert drift == []


def test_sqlite_is_in_wal_mode_with_full_sync(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def _old_chain_rows(count: int) -> list[dict[str, object]]:
    """Audit rows as the unkeyed SHA-256 chain before revision 0022 wrote them."""
    import hashlib
    import json
    import uuid
    from datetime import UTC, datetime, timedelta

    rows, prev = [], "0" * 64
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    for seq in range(1, count + 1):
        row: dict[str, object] = {
            "seq": seq, "id": uuid.uuid4(), "created_at": start + timedelta(minutes=seq),
            "created_by": "nurse", "role": "nurse", "action": "read", "record_type": "Patient",
            "record_id": f"r{seq}", "patient_id": None, "client": "", "detail": "",
            "prev_hash": prev}
        content = [seq, str(row["id"]), row["created_at"].isoformat(timespec="microseconds"),  # type: ignore[union-attr]
                   "nurse", "nurse", "read", "Patient", f"r{seq}", None, "", "", prev]
        prev = row["hash"] = hashlib.sha256(json.dumps(content, separators=(",", ":"))
                                            .encode()).hexdigest()
        rows.append(row)
    return rows


def _old_audit_table() -> "object":
    import sqlalchemy as sa

    from ketaclinic.db import UTCDateTime

    return sa.table("audit_event", sa.column("seq", sa.BigInteger()), sa.column("id", sa.Uuid()),
                    sa.column("created_at", UTCDateTime()),
                    *(sa.column(n, sa.String()) for n in (
                        "created_by", "role", "action", "record_type", "record_id", "patient_id",
                        "client", "detail", "prev_hash", "hash")))


def test_the_unkeyed_chain_is_checked_then_sealed_and_a_broken_one_stops_the_upgrade(
        empty_database: str) -> None:
    import pytest
    from sqlalchemy.orm import Session

    from ketaclinic.audit import service as audit

    engine = make_engine(empty_database)
    migrate.upgrade(engine, "0021")
    table = _old_audit_table()
    rows = _old_chain_rows(12)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)  # type: ignore[attr-defined]
    migrate.upgrade(engine)
    with Session(engine) as db:
        report = audit.verify(db=db)
    assert report.ok and report.rows_checked == 12 and report.unsealed == 0
    migrate.downgrade(engine, "0021")
    with engine.begin() as conn:
        for statement in (["DROP TRIGGER audit_event_no_update"] if engine.dialect.name == "sqlite"
                          else ["DROP TRIGGER audit_event_no_update_delete ON audit_event"]):
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql("UPDATE audit_event SET detail = 'edited' WHERE seq = 7")
    with pytest.raises(RuntimeError, match="broken at seq 7"):
        migrate.upgrade(engine)
    engine.dispose()


def test_the_messages_kept_before_digests_get_the_digest_the_feed_gives(
        empty_database: str) -> None:
    import uuid
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from ketaclinic.db import UTCDateTime
    from ketaclinic.treatments.models import text_digest

    engine = make_engine(empty_database)
    migrate.upgrade(engine, "0031")
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    inbox = sa.table("monitor_message", *(sa.column(n, sa.String()) for n in (
        "created_by", "peer", "control_id", "raw", "status", "ack_code", "reason")),
        sa.column("id", sa.Uuid()), *(sa.column(n, UTCDateTime()) for n in (
            "created_at", "updated_at", "received_at")))
    texts = [f"MSH|^~\\&|GW|HPC|||2026120109{n:02d}||ORU^R01|M{n % 3}|P|2.6\rPID|||1||Müller^Zoë"
             for n in range(2500)]  # more than one chunk of SQLite's fill
    with engine.begin() as conn:
        conn.execute(inbox.insert(), [
            {"id": uuid.uuid4(), "created_at": now, "updated_at": now, "received_at": now,
             "created_by": "monitor", "peer": "gw", "control_id": f"M{n % 3}", "raw": text,
             "status": "unmatched", "ack_code": "AA", "reason": ""}
            for n, text in enumerate(texts)])
    migrate.upgrade(engine)
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT raw, raw_digest FROM monitor_message")).all())
    engine.dispose()
    assert len(stored) == len(texts)
    assert all(bytes(digest) == text_digest(raw) for raw, digest in stored.items())
