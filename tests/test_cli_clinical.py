"""The clinical command-line contract: screen, dose and plan."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fhir_builders import baseline, bundle, condition, patient


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ketaclinic.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_dose_iv_80kg() -> None:
    result = run("dose", "--route", "iv", "--weight-kg", "80", "--format", "json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["dose_mg"], body["duration_min"], body["rate_mg_per_h"]) == (40.0, 40, 60.0)
    assert body["mg_per_kg"] == 0.5 and "actual body weight" in body["basis"]
    assert body["source"].startswith("FAVA-2018")


def test_dose_outside_the_range_is_refused() -> None:
    result = run("dose", "--route", "iv", "--weight-kg", "80", "--mg-per-kg", "0.05")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("error: mg_per_kg: 0.05 mg/kg is outside the allowed range "
                             "(accepted: 0.1 to 1 mg/kg, or a prescriber's recorded override reason "
                             "(never above 1 mg/kg))\n")
    above = run("dose", "--route", "iv", "--weight-kg", "80", "--mg-per-kg", "5")
    assert above.returncode == 2 and above.stderr == (
        "error: mg_per_kg: 5 mg/kg is above the hard limit of 1 mg/kg, which no override passes "
        "(accepted: more than 0 and at most 1 mg/kg)\n")


@pytest.mark.parametrize(("dose", "devices"), [("56", 2), ("84", 3)])
def test_esketamine_gives_device_counts(dose: str, devices: int) -> None:
    body = json.loads(run("dose", "--route", "esketamine", "--dose-mg", dose, "--format",
                          "json").stdout)
    assert (body["devices"], body["device_mg"], body["device_spacing_min"]) == (devices, 28.0, 5.0)
    assert "weight_kg" not in body


def test_esketamine_unlabelled_dose_and_missing_weight_are_refused() -> None:
    assert run("dose", "--route", "esketamine", "--dose-mg", "70").returncode == 2
    missing = run("dose", "--route", "iv")
    assert missing.returncode == 2 and "weight_kg: is required" in missing.stderr


def test_plan_esketamine_from_december_first() -> None:
    result = run("plan", "--route", "esketamine", "--start", "2026-12-01", "--format", "json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    weeks = [s["week"] for s in body["sessions"]]
    assert sum(1 for w in weeks if 1 <= w <= 4) == 8
    assert sum(1 for w in weeks if 5 <= w <= 8) == 4
    assert body["sessions"][0]["date"] == "2026-12-01"
    assert all(s["weekday"] not in ("sat", "sun") for s in body["sessions"])
    assert "week 9" in body["maintenance"] and body["source"] == "SPRAVATO-PI"
    text = run("plan", "--route", "esketamine", "--start", "2026-12-01")
    assert "Maintenance: From week 9" in text.stdout


def test_plan_skips_closed_days() -> None:
    body = json.loads(run("plan", "--route", "iv", "--start", "2026-12-05", "--closed", "sat,sun",
                          "--format", "json").stdout)
    assert len(body["sessions"]) == 6
    assert all(s["weekday"] not in ("sat", "sun") for s in body["sessions"])
    bad = run("plan", "--route", "iv", "--start", "2026-13-01")
    assert bad.returncode == 2 and "--start" in bad.stderr


def _write(tmp_path: Path, data: object, name: str = "b.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_screen_json_output(tmp_path: Path) -> None:
    path = _write(tmp_path, bundle(*baseline(), condition("59621000", "Hypertension"),
                                   kind="transaction") | {"entry": [
        {**e, "request": {"method": "POST", "url": e["resource"]["resourceType"]}}
        for e in bundle(*baseline(), condition("59621000", "Hypertension"))["entry"]]})
    result = run("screen", str(path), "--route", "esketamine", "--on", "2026-11-20", "--format",
                 "json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["decision"] == "needs-review" and body["ruleset_version"]
    finding = body["findings"][0]
    assert set(finding) == {"rule", "severity", "message", "evidence", "source"}


@pytest.mark.parametrize(("content", "message"), [
    ("not json at all", "not JSON"),
    (json.dumps({"resourceType": "Patient"}), "not a FHIR Bundle"),
    (json.dumps(bundle(condition("59621000", "Hypertension"))), "no Patient"),
    (json.dumps(bundle(patient(), patient())), "2 Patients"),
    (json.dumps(bundle(patient(deceased="2020-01-01"))), "deceased"),
    (json.dumps({"resourceType": "Bundle", "type": "collection",
                 "entry": [{"resource": {"resourceType": "Patient", "birthDate": "yesterday"}}]}),
     "not valid FHIR R4"),
])
def test_screen_refuses_what_cannot_be_screened(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    result = run("screen", str(path), "--route", "iv")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
