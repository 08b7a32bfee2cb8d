"""A real demo server and Debian's Chromium for the browser tests."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.server_helpers import free_port, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a server running the seeded demo clinic on SQLite."""
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e')}/demo.db"
    for args in (("db", "upgrade"), ("demo", "--patients", "12")):
        result = run_cli(url, *args)
        assert result.returncode == 0, result.stderr
    port = free_port()
    server = start_server(url, port, demo=True)
    yield f"http://127.0.0.1:{port}"
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
