"""A real demo server and Debian's Chromium for the browser tests."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.server_helpers import clock_env, free_port, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def seeded_demo_clinic(tmp_path_factory: pytest.TempPathFactory, name: str) -> str:
    """The URL of a new SQLite file holding the seeded demo clinic."""
    url = f"sqlite:///{tmp_path_factory.mktemp(name)}/demo.db"
    for args in (("db", "upgrade"), ("demo", "--patients", "12")):
        result = run_cli(url, *args)
        assert result.returncode == 0, result.stderr
    return url


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a seeded demo clinic database (SQLite file)."""
    return seeded_demo_clinic(tmp_path_factory, "e2e")


@pytest.fixture(scope="session")
def demo_server(demo_database: str) -> Iterator[str]:
    """Base URL of a server running the seeded demo clinic."""
    url = demo_database
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The address the server is reached at: SMART apps check their `aud` against it.
    server = start_server(url, port, demo=True, extra_env={"KETACLINIC_PUBLIC_URL": base})
    yield base
    stop_server(server)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh tablet-sized browser context and page."""
    context = browser.new_context(viewport={"width": 1024, "height": 768})  # type: ignore[attr-defined]
    tab = context.new_page()
    yield tab
    context.close()


PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: object) -> Iterator[object]:
    """A fresh phone-sized (390 x 844) touch browser context and page."""
    context = browser.new_context(viewport=PHONE, is_mobile=True,  # type: ignore[attr-defined]
                                  has_touch=True)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def monitor_port(demo_database: str) -> Iterator[int]:
    """The port of a `ketaclinic mllp` listener on the demo database."""
    import socket
    import subprocess
    import sys
    import time

    port = free_port()
    env = {**os.environ, "KETACLINIC_DATABASE_URL": demo_database, **clock_env()}
    process = subprocess.Popen([sys.executable, "-m", "ketaclinic.cli", "mllp", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port
    process.kill()
    process.wait()
