"""Starting the real server as a separate process on a free local port."""

import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx2 as httpx
import time_machine

from ketaclinic import clock


def real_time() -> float:
    """The system's time (Unix seconds), also while a test has moved the clock (time_machine)."""
    hatch = time_machine.escape_hatch
    return hatch.time.time() if hatch.is_travelling() else time.time()


def clock_env() -> dict[str, str]:
    """The environment that gives a child process this test's clock: the moment it reads now,
    and the real time at which it read it, so the child's clock does not lag by the child's
    start-up."""
    moment = clock.now()
    return {"KETACLINIC_CLOCK_AT": moment.isoformat(),
            "KETACLINIC_CLOCK_AT_REAL_TIME": repr(real_time())}


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(database_url: str, port: int, *, demo: bool = False,
                 extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Run `ketaclinic serve` and wait until it answers /healthz."""
    env = {**os.environ, "KETACLINIC_DATABASE_URL": database_url, **clock_env(),
           "KETACLINIC_AUDIT_SEAL_EVERY_S": "1", "KETACLINIC_TOKEN_CACHE_S": "5",
           **(extra_env or {})}
    args = [sys.executable, "-m", "ketaclinic.cli", "serve", "--port", str(port)]
    if demo:
        args.append("--demo")
    # Kept in a file, not discarded: a test that waits for the server's background work can
    # show what the server said when the wait runs out (`server_log`).
    with tempfile.NamedTemporaryFile(prefix="ketaclinic-server-", suffix=".log",
                                     delete=False) as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    _LOGS[process.pid] = log.name
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start within 30 s")


_LOGS: dict[int, str] = {}


def server_log(process: subprocess.Popen[bytes], last_lines: int = 60) -> str:
    """The last lines the server printed (its log, warnings and tracebacks)."""
    path = _LOGS.get(process.pid)
    if path is None or not os.path.exists(path):
        return "(no log kept)"
    with open(path, encoding="utf-8", errors="replace") as handle:
        return "".join(handle.readlines()[-last_lines:])


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server, reap it and remove its log."""
    path = _LOGS.pop(process.pid, None)
    if path is not None and os.path.exists(path):
        os.unlink(path)
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
