"""Running the real `ketaclinic` command against a database of the test's own."""

import os
import subprocess
import sys

from tests.server_helpers import clock_env


def run_cli(database_url: str, *args: str, extra_env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `ketaclinic ARGS` with KETACLINIC_DATABASE_URL set; capture its output."""
    env = {**os.environ, "KETACLINIC_DATABASE_URL": database_url, "COLUMNS": "200",
           **clock_env(), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "ketaclinic.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
