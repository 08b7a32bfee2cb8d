"""The twelve Synthea patients screen as of their last Observation; the deceased are refused."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ketaclinic.fhir.bundle import load_bundle
from ketaclinic.fhir.record import last_observation_date
from tests.examples import SYNTHEA, synthea_bundle

# file prefix -> (decision for IV ketamine, rules that must be among the findings, why)
EXPECTED = {
    "Abbey813": ("needs-review", {"hypertension"},
                 "active hypertension; the 2013 pregnancy is resolved and does not count"),
    "Bill567": ("eligible", set(), "stress only, recent normal BP and weight"),
    "Cherie102": ("not-eligible", {"age-under-minimum"}, "a child born 2014"),
    "Deedra511": ("needs-review", {"opioids"}, "an active fentanyl patch"),
    "Delbert384": ("needs-review", {"hypertension", "blood-pressure-elevated", "opioids"},
                   "active hypertension with a raised reading, and an opioid"),
    "Kazuko67": ("needs-review", {"opioids"}, "fibromyalgia treated with an active opioid"),
    "Kelli207": ("needs-review", {"stroke-unknown-kind"},
                 "a stroke of unknown kind: was it a haemorrhage?"),
    "Marianna323": ("eligible", set(), "two pregnancies, both resolved"),
    "Sachiko982": ("needs-review", {"older-adult"},
                   "aged 65 or more; her severe anxiety is resolved"),
}
DECEASED = {"Gonzalo160", "Gus973", "Les282"}


def _file(prefix: str) -> Path:
    return synthea_bundle(prefix)


def _screen(path: Path, on: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ketaclinic.cli", "screen", str(path), "--route",
                           "iv", "--on", on, "--format", "json"],
                          capture_output=True, text=True, timeout=120, check=False)


def test_every_file_is_expected() -> None:
    prefixes = {p.name.split("_")[0] for p in SYNTHEA.glob("*.json")}
    assert prefixes == set(EXPECTED) | DECEASED


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_synthea_patient_screens_as_expected(prefix: str) -> None:
    path = _file(prefix)
    on = last_observation_date(load_bundle(path.read_bytes(), validate=False))
    assert on is not None
    result = _screen(path, on.isoformat())
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    decision, rules, why = EXPECTED[prefix]
    found = {f["rule"] for f in body["findings"]}
    assert body["decision"] == decision, (why, body["findings"])
    assert rules <= found, why
    assert set(body) >= {"decision", "route", "on", "ruleset_version", "findings"}
    assert body["on"] == on.isoformat() and body["route"] == "iv"


@pytest.mark.parametrize("prefix", sorted(DECEASED))
def test_deceased_synthea_patient_exits_2_with_one_line(prefix: str) -> None:
    path = _file(prefix)
    on = last_observation_date(load_bundle(path.read_bytes(), validate=False))
    result = _screen(path, on.isoformat() if on else "2020-01-01")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "deceased" in result.stderr
