"""A backup restores: on each back end, the demo clinic backed up and restored into an empty
database has exactly the same rows in every table, and the audit chain verifies on the copy."""

from pathlib import Path

import pytest

from ketaclinic import backup, migrate
from ketaclinic.db import make_engine
from tests.cli_helpers import run_cli
from tests.conftest import BACKENDS, drop_postgres_database, fresh_database_url


@pytest.mark.parametrize("backend", BACKENDS)
def test_backup_then_restore_gives_identical_tables(backend: str, tmp_path: Path) -> None:
    source_url = fresh_database_url(backend, tmp_path)
    target_url = fresh_database_url(backend, tmp_path)
    try:
        migrate.upgrade(make_engine(source_url))
        seeded = run_cli(source_url, "demo", "--patients", "8")
        assert seeded.returncode == 0, seeded.stderr
        file = tmp_path / "clinic.backup"
        made = run_cli(source_url, "backup", str(file))
        assert made.returncode == 0, made.stderr
        assert "audit chain intact" in made.stdout and file.stat().st_size > 10_000
        again = run_cli(source_url, "backup", str(file))
        assert again.returncode == 2 and "exists already" in again.stderr
        restored = run_cli(target_url, "restore", str(file))
        assert restored.returncode == 0, restored.stderr
        assert "audit chain intact" in restored.stdout
        source, target = make_engine(source_url), make_engine(target_url)
        try:
            assert backup.table_rows(target) == backup.table_rows(source)
            assert backup.counts(target)["audit_event"] > 0
        finally:
            source.dispose()
            target.dispose()
        verified = run_cli(target_url, "audit", "verify")
        assert verified.returncode == 0 and "audit chain intact" in verified.stdout
        twice = run_cli(target_url, "restore", str(file))
        assert twice.returncode == 2 and "not empty" in twice.stderr
    finally:
        if backend == "postgresql":
            drop_postgres_database(source_url)
            drop_postgres_database(target_url)
