"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

The live server runs in this process, so it sees the settings that the nginx and Pebble session
fixtures point at their private instances; the real qcluster worker (tests/services/worker.py)
shares the same test database.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import require

CHROMIUM = os.environ.get("NP_CHROMIUM", "/usr/bin/chromium")
# FACTS.md: without the background-networking flags Chromium keeps reaching for the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# The live server on loopback IPv4 (Chromium may resolve "localhost" to ::1 first).
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")


@pytest.fixture(scope="session")
def playwright(playwright):
    """Playwright's sync API keeps an event loop running in the main thread from here on, and
    Django then refuses ORM calls from this thread ("async context"). The calls are plain blocking
    ones, so allow them, but only from the moment the loop exists: the root conftest runs the
    browser tests last, so every other test keeps Django's check."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield playwright
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    require(
        Path(CHROMIUM).exists() or shutil.which("chromium") is not None,
        f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)",
    )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}}


@pytest.fixture
def plain_server(live_server, settings):
    """The live panel over plain HTTP: secure cookies off even if DEBUG is off in CI."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    return live_server


@pytest.fixture
def panel_server(plain_server, pebble, worker):
    """The live panel with the real worker, nginx and Pebble behind it."""
    return plain_server


@pytest.fixture
def shoot(tmp_path):
    """Save a full-page screenshot as <name>.png: into docs/screenshots/ in CI or with
    NP_SCREENSHOTS=1, else into the test's tmp dir (so a local run leaves git clean)."""
    wanted = os.environ.get("NP_SCREENSHOTS") == "1" or os.environ.get("CI") == "true"
    target = SCREENSHOTS if wanted else tmp_path
    target.mkdir(parents=True, exist_ok=True)

    def _shoot(page, name: str) -> None:
        path = target / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5_000, f"empty screenshot {path}"

    return _shoot
