"""The benchmark scripts run (on a small input) and print their figures."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_screening_benchmark_reports_rate_and_ratio() -> None:
    result = subprocess.run([sys.executable, str(BENCH / "screening.py"), "--patients", "30",
                             "--repeat", "1"], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "patients/s" in result.stdout and "ratio (load + screening) / load:" in result.stdout
    assert "decisions:" in result.stdout
    bad = subprocess.run([sys.executable, str(BENCH / "screening.py"), "--patients", "0"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def test_ingest_benchmark_reports_every_path() -> None:
    result = subprocess.run([sys.executable, str(BENCH / "ingest.py"), "--readings", "20",
                             "--messages", "20", "--batch", "10", "--connections", "2",
                             "--seconds", "1", "--rounds", "1", "--postgres", ""],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    for line in ("raw driver executemany, 1 connection:", "raw driver executemany, 2 connections:",
                 "HTTP batch of 10, wrk 2 connections, 1 server process:", "MLLP, 2 connections:"):
        assert line in result.stdout
    assert result.stdout.count("ratio to raw") == 2


def test_floor_benchmark_reports_both_ratios() -> None:
    result = subprocess.run([sys.executable, str(BENCH / "floor.py"), "--seconds", "1",
                             "--rounds", "1", "--readings", "200", "--postgres", ""],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    for line in ("sqlite: bare FastAPI, 1 server process(es)", "SELECT + audit INSERT + commit",
                 "/livez, wrk 16 connections:", "POST of 100 readings, wrk 8 connections:",
                 "raw driver executemany, same rows and commit size:"):
        assert line in result.stdout
    assert result.stdout.count("ratio") == 2
    bad = subprocess.run([sys.executable, str(BENCH / "floor.py"), "--rounds", "0"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def test_chart_benchmark_reports_every_page_and_its_ratio() -> None:
    result = subprocess.run([sys.executable, str(BENCH / "chart.py"), "--long", "30",
                             "--short", "5", "--sessions", "4", "--session-readings", "20",
                             "--brief-session", "5",
                             "--rounds", "1", "--postgres", ""],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "sqlite: median of 1 interleaved rounds" in result.stdout
    assert "patients with 5 and 30 vital-sign sets" in result.stdout
    assert "patients with 2 and 4 treatment sessions of 20 monitor readings" in result.stdout
    for label in ("chart page (HTML)", "vitals list (JSON)", "FHIR read", "FHIR search ",
                  "FHIR search, newest first", "FHIR Encounter search"):
        assert label in result.stdout and "(goal under 1.5)" in result.stdout, label
    assert "FHIR search, last page" in result.stdout and "no goal" in result.stdout
    assert "FHIR search, newest first, last page" in result.stdout
    for label in ("FHIR search, heart rate", "FHIR search, scores newest first",
                  "FHIR Encounter search, 10 a page", "FHIR search, newest first, its next link",
                  "FHIR MedicationAdministration search, 10 a page", "session page (HTML)",
                  "session page, its live part (HTML)", "session (JSON)",
                  "FHIR search, newest first, halfway down by _offset"):
        assert label in result.stdout, label
    assert "one session of 5 and one of 20 monitor readings" in result.stdout
    assert result.stdout.count("   ratio ") == 21
    bad = subprocess.run([sys.executable, str(BENCH / "chart.py"), "--rounds", "0"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def test_outcomes_benchmark_reports_time_and_ratio() -> None:
    result = subprocess.run([sys.executable, str(BENCH / "outcomes.py"), "--patients", "60",
                             "--postgres", ""], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "sqlite: 60 patients, 600 measures" in result.stdout
    assert "single SQL aggregate" in result.stdout and "ratio" in result.stdout
    bad = subprocess.run([sys.executable, str(BENCH / "outcomes.py"), "--patients", "0"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def test_fhir_import_benchmark_reports_rates_and_ratio(tmp_path: Path) -> None:
    from tests.examples import synthea_bundle

    (tmp_path / "one.json").write_bytes(synthea_bundle("Bill567").read_bytes())
    result = subprocess.run([sys.executable, str(BENCH / "fhir_import.py"), "--folder",
                             str(tmp_path), "--postgres", ""], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "1 bundles, 235 resources" in result.stdout
    assert "ratio to parse + validate" in result.stdout
    empty = subprocess.run([sys.executable, str(BENCH / "fhir_import.py"), "--folder",
                            str(tmp_path / "none")], capture_output=True, text=True, timeout=60,
                           check=False)
    assert empty.returncode == 2 and empty.stderr.startswith("error:")


def test_week_view_benchmark_reports_time_and_ratio() -> None:
    result = subprocess.run([sys.executable, str(BENCH / "week_view.py"), "--chairs", "3",
                             "--appointments", "120", "--postgres", ""], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "sqlite: 3 chairs, 120 appointments" in result.stdout
    assert "bare query" in result.stdout and "week view page" in result.stdout
    assert "ratio" in result.stdout
    bad = subprocess.run([sys.executable, str(BENCH / "week_view.py"), "--chairs", "0"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def test_request_path_benchmark_reports_the_ratio_and_the_mixed_run() -> None:
    import shutil

    import pytest

    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (Debian: apt-get install wrk)")
    result = subprocess.run([sys.executable, str(BENCH / "request_path.py"), "--seconds", "1",
                             "--rounds", "1", "--mixed-seconds", "3", "--clients", "4",
                             "--postgres", ""], capture_output=True, text=True, timeout=600,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "audited read" in result.stdout and "ratio" in result.stdout
    assert "5xx or dropped: 0" in result.stdout and "missing afterwards: 0" in result.stdout
    assert "audit chain intact" in result.stdout and "ledger chain intact" in result.stdout


def test_fhir_crud_benchmark_reports_the_cycle_and_each_read_alone() -> None:
    import shutil

    import pytest

    bad = subprocess.run([sys.executable, str(BENCH / "fhir_crud.py"), "--rounds", "0"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (Debian: apt-get install wrk)")
    result = subprocess.run([sys.executable, str(BENCH / "fhir_crud.py"), "--seconds", "1",
                             "--rounds", "1", "--each", "--past-sessions", "2", "--postgres", ""],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert "the patient has 2 past sessions; non-2xx: 0" in result.stdout
    for line in ("reads and searches", "creates", "/livez", "alone: Patient read",
                 "alone: Observation read", "alone: Observation search (_count=50)",
                 "alone: Patient search by family"):
        assert line in result.stdout
