"""The command line: users, demo seeding, and one-line errors with a non-zero exit."""

import pytest

from tests.cli_helpers import run_cli


@pytest.fixture
def migrated(tmp_path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert run_cli(url, "db", "upgrade").returncode == 0
    return url


def test_users_create_and_bad_input(migrated: str) -> None:
    assert run_cli(migrated, "demo", "--patients", "2").returncode == 0
    ok = run_cli(migrated, "users", "create", "--username", "nurse9", "--name", "N Two",
                 "--role", "nurse", "--site", "RVS", "--password", "long-enough-pw")
    assert ok.returncode == 0 and "created nurse nurse9" in ok.stdout
    bad = run_cli(migrated, "users", "create", "--username", "x!", "--name", "X", "--role",
                  "wizard", "--site", "NOPE", "--password", "short")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    for fragment in ("Username:", "Role: unknown role 'wizard' (accepted: admin, prescriber, nurse,",
                     "Password: is too short", "Sites: unknown site NOPE (accepted: HPC, RVS)"):
        assert fragment in bad.stderr
    taken = run_cli(migrated, "users", "create", "--username", "nurse9", "--name", "Again",
                    "--role", "nurse", "--site", "HPC", "--password", "long-enough-pw")
    assert taken.returncode == 2 and "taken" in taken.stderr


def test_demo_is_idempotent_and_usage_errors_are_one_line(migrated: str) -> None:
    assert run_cli(migrated, "demo", "--patients", "3").returncode == 0
    again = run_cli(migrated, "demo", "--patients", "3")
    assert again.returncode == 0 and "already holds a clinic network" in again.stdout
    for args in (("demo", "--patients", "0"), ("no-such-command",), ("audit", "show")):
        result = run_cli(migrated, *args)
        assert result.returncode == 2, args
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr


def test_sites_create_then_staff_on_it(migrated: str) -> None:
    created = run_cli(migrated, "sites", "create", "--code", "BOS", "--name", "Boston",
                      "--time-zone", "America/New_York", "--chairs", "3", "--network", "Acme")
    assert created.returncode == 0 and "3 chairs" in created.stdout
    listed = run_cli(migrated, "sites", "list")
    assert "BOS" in listed.stdout and "America/New_York" in listed.stdout
    bad = run_cli(migrated, "sites", "create", "--code", "bos", "--name", "X",
                  "--time-zone", "Mars/Base")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "Time zone: unknown time zone 'Mars/Base'" in bad.stderr
    nurse = run_cli(migrated, "users", "create", "--username", "n1", "--name", "N", "--role",
                    "nurse", "--site", "BOS", "--password", "long-enough-pw")
    assert nurse.returncode == 0


def test_chair_monitor_mapping(migrated: str) -> None:
    assert run_cli(migrated, "demo", "--patients", "2").returncode == 0
    ok = run_cli(migrated, "sites", "chair-monitor", "--site", "HPC", "--chair", "Chair 1",
                 "--device", "0123456789ABCDEF")
    assert ok.returncode == 0 and "monitor 0123456789ABCDEF" in ok.stdout
    taken = run_cli(migrated, "sites", "chair-monitor", "--site", "HPC", "--chair", "Chair 2",
                    "--device", "0123456789ABCDEF")
    assert taken.returncode == 2 and "already mapped to Chair 1" in taken.stderr
    missing = run_cli(migrated, "sites", "chair-monitor", "--site", "HPC", "--chair", "Chair 9",
                      "--device", "X")
    assert missing.returncode == 2 and "(accepted: Chair 1, Chair 2, Chair 3, Chair 4)" in missing.stderr


def test_audit_show_into_a_file_keeps_whole_dates(migrated: str) -> None:
    import re
    import sqlite3

    assert run_cli(migrated, "demo", "--patients", "2").returncode == 0
    path = migrated.removeprefix("sqlite:///")
    patient_id = sqlite3.connect(path).execute("SELECT id FROM patient LIMIT 1").fetchone()[0]
    shown = run_cli(migrated, "audit", "show", "--patient", str(patient_id))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split("\t")[:2] == ["when (UTC)", "who"]
    assert lines[1:] and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\t", line)
                             for line in lines[1:])
    assert "…" not in shown.stdout and "..." not in shown.stdout


def test_import_before_any_site_says_how_to_add_one(migrated: str, tmp_path) -> None:
    bundle = tmp_path / "b.json"
    bundle.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}')
    refused = run_cli(migrated, "import-fhir", str(bundle), "--site", "HPC")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "no site exists yet" in refused.stderr and "(accepted: )" not in refused.stderr


def test_demo_seeds_in_the_hour_when_the_sites_are_on_different_dates(migrated: str) -> None:
    # 00:30 in Boston is still 23:30 the day before in Chicago: each site's records take their
    # own site's date (a consent given "today" at Riverside is not tomorrow there).
    result = run_cli(migrated, "demo", "--patients", "3",
                     extra_env={"KETACLINIC_CLOCK_AT": "2027-01-06T00:30:00-05:00"})
    assert result.returncode == 0, result.stderr[-400:]


def test_a_setting_with_a_bad_value_is_one_line_naming_it_and_what_it_accepts(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/clinic.db"
    for name, value, accepted in (("KETACLINIC_SQLITE_CHECKPOINT_EVERY_S", "abc", "valid number"),
                                  ("KETACLINIC_AUDIT_SEAL_EVERY_S", "-1", "greater than or equal to 0")):
        result = run_cli(url, "db", "upgrade", extra_env={name: value})
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            line for line in result.stderr.strip().splitlines() if line.startswith("error: ")]
        assert name in result.stderr and accepted in result.stderr and repr(value) in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "clinic.db").exists()  # nothing was made
