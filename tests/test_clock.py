"""The clock: the only module that reads the wall clock, and a moment a process can be started at."""

import ast
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ketaclinic import clock
from tests.server_helpers import real_time

SOURCE = Path(__file__).resolve().parents[1] / "src" / "ketaclinic"
# Calls that read the wall clock when made on these modules or classes.
WALL_CLOCK_CALLS = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
    ("time", "time"), ("time", "time_ns"), ("time", "localtime"), ("time", "gmtime"),
    ("time", "ctime"), ("time", "asctime"), ("func", "now"), ("func", "current_timestamp"),
    ("func", "current_date"), ("func", "localtimestamp"),
}


def wall_clock_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """Each call in the tree that asks the system (or the database server) for the time."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else \
                owner.attr if isinstance(owner, ast.Attribute) else ""
            if (owner_name, func.attr) in WALL_CLOCK_CALLS or (
                    func.attr in {"now", "utcnow"} and owner_name != "clock"):
                found.append((node.lineno, f"{owner_name}.{func.attr}()"))
        elif isinstance(func, ast.Name) and func.id in {"utcnow", "time_ns"}:
            found.append((node.lineno, f"{func.id}()"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "time" and any(
                alias.name in {"time", "time_ns", "localtime", "gmtime"} for alias in node.names):
            found.append((node.lineno, "from time import ..."))
    return found


def test_the_detector_finds_each_kind_of_wall_clock_read() -> None:
    source = "\n".join([
        "from datetime import UTC, date, datetime",
        "import time",
        "a = datetime.now(UTC)", "b = datetime.utcnow()", "c = date.today()", "d = time.time()",
        "e = sqlalchemy.func.now()", "f = pyotp.TOTP(s).now()", "g = clock.now()",
        "h = time.monotonic()",
    ])
    lines = [line for line, _ in wall_clock_reads(ast.parse(source))]
    assert lines == [3, 4, 5, 6, 7, 8]


def test_no_module_but_the_clock_reads_the_wall_clock() -> None:
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path == SOURCE / "clock.py":
            continue
        for line, call in wall_clock_reads(ast.parse(path.read_text(), str(path))):
            offenders.append(f"{path.relative_to(SOURCE)}:{line}: {call}")
    assert offenders == [], "read the time through ketaclinic.clock:\n" + "\n".join(offenders)


def test_a_process_started_at_a_moment_reads_that_moment_and_runs_on() -> None:
    moment = "2027-03-13T23:50:00-05:00"
    code = ("from ketaclinic import clock; import time; a = clock.now(); time.sleep(0.2); "
            "b = clock.now(); print(a.isoformat(), (b - a).total_seconds(), "
            "clock.today('America/New_York'), clock.today('UTC'), clock.is_shifted())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "KETACLINIC_CLOCK_AT": moment}, check=True)
    started, ran, local, utc, shifted = result.stdout.split()
    assert abs(datetime.fromisoformat(started) - datetime(2027, 3, 14, 4, 50, tzinfo=UTC)) \
        < timedelta(seconds=5)
    assert 0.15 < float(ran) < 5
    assert (local, utc, shifted) == ("2027-03-13", "2027-03-14", "True")


def test_a_process_given_the_real_time_of_its_moment_keeps_its_parents_time() -> None:
    """A child told when (in real time) its parent's clock read the moment does not lag by its
    own start-up: 30 s after that, it reads the moment plus 30 s."""
    code = "from ketaclinic import clock; print(clock.now().isoformat())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**os.environ,
                                             "KETACLINIC_CLOCK_AT": "2027-03-13T23:50:00-05:00",
                                             "KETACLINIC_CLOCK_AT_REAL_TIME": repr(real_time() - 30)})
    ahead = datetime.fromisoformat(result.stdout.strip()) - datetime(2027, 3, 14, 4, 50,
                                                                     tzinfo=UTC)
    assert timedelta(seconds=30) <= ahead < timedelta(seconds=35)


@pytest.mark.parametrize(("settings", "said"), [
    ({"KETACLINIC_CLOCK_AT_REAL_TIME": "1700000000"}, "set both or neither"),
    ({"KETACLINIC_CLOCK_AT": "2027-03-13T23:50:00-05:00", "KETACLINIC_CLOCK_AT_REAL_TIME": "soon"},
     "KETACLINIC_CLOCK_AT_REAL_TIME"),
    ({"KETACLINIC_CLOCK_AT": "2027-03-13T23:50:00-05:00", "KETACLINIC_CLOCK_AT_REAL_TIME": "nan"},
     "KETACLINIC_CLOCK_AT_REAL_TIME"),
    ({"KETACLINIC_CLOCK_AT": "2027-03-13T23:50:00-05:00", "KETACLINIC_CLOCK_AT_REAL_TIME": "1e20"},
     "less than or equal to 253402300799")])
def test_a_real_time_alone_not_a_number_or_past_any_date_is_refused_in_one_line(
        settings: dict[str, str], said: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KETACLINIC_CLOCK_AT")}
    result = subprocess.run([sys.executable, "-m", "ketaclinic.cli", "db", "upgrade"],
                            capture_output=True, text=True, check=False,
                            env={**env, **settings,
                                 "KETACLINIC_DATABASE_URL": f"sqlite:///{tmp_path}/clinic.db"})
    assert result.returncode == 2
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "clinic.db").exists()


def test_a_moment_without_an_offset_is_refused() -> None:
    result = subprocess.run([sys.executable, "-c", "from ketaclinic import clock; clock.now()"],
                            capture_output=True, text=True, check=False,
                            env={**os.environ, "KETACLINIC_CLOCK_AT": "2027-03-13T23:50:00"})
    assert result.returncode != 0 and "needs a UTC offset" in result.stderr


@pytest.mark.parametrize("zone", ["America/New_York", "Pacific/Kiritimati", "UTC"])
def test_today_is_the_date_in_the_zone(zone: str) -> None:
    from zoneinfo import ZoneInfo
    assert clock.today(zone) in {(clock.now() + timedelta(seconds=s)).astimezone(ZoneInfo(zone)).date()
                                 for s in (-1, 0, 1)}
