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
