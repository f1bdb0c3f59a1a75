"""Shared fixtures: fixed users (admin, owner, outsider) and a CSRF-enforcing client.

Service fixtures (nginx, php-fpm, Pebble, the qcluster worker, Chromium) live in
tests/services/ and are pulled in here as a plugin.
"""

from __future__ import annotations

import http.server
import os
import threading

import pytest
from django.test import Client

from panel.accounts.models import Role

from .factories import PASSWORD, UserFactory

pytest_plugins = [
    "tests.services.nginx",
    "tests.services.phpfpm",
    "tests.services.worker",
    "tests.services.pebble",
    "tests.services.sshd",
    "tests.locale_build",
]

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: once Playwright runs, its event loop stays in the main thread and
    Django's async-safety check has to be lifted (tests/browser/conftest.py); every other test
    runs before that, with the check on."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the site users that tests provisioned through the worker without deleting the site
    (fault tests, bursts): a panel-made user whose web root is gone with its test's temporary
    directory. Another run's users keep their (still existing) web root and are left alone."""
    if os.geteuid() != 0:
        return
    import pwd
    import subprocess
    import tempfile

    from panel.tenancy.helper import GECOS_PREFIX

    tmp = tempfile.gettempdir().rstrip("/") + "/"
    for entry in pwd.getpwall():
        web_root = os.path.dirname(entry.pw_dir)
        if (
            entry.pw_gecos.startswith(GECOS_PREFIX)
            and entry.pw_dir.startswith(tmp)
            and not os.path.exists(web_root)
        ):
            subprocess.run(["userdel", entry.pw_name], capture_output=True, check=False)
            subprocess.run(["groupdel", entry.pw_name], capture_output=True, check=False)


def require(condition: bool, reason: str) -> None:
    """Skip when a service is missing locally; in CI a missing service is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request in Indonesian leaves Indonesian
    active in the thread (Django does not reset it), and a later test calling a service directly
    would read its messages in Indonesian."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", role=Role.ADMIN)


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


def _client_for(user) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user) -> Client:
    return _client_for(admin_user)


@pytest.fixture
def owner_client(owner) -> Client:
    return _client_for(owner)


@pytest.fixture
def outsider_client(outsider) -> Client:
    return _client_for(outsider)


@pytest.fixture
def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def upstream():
    """A small HTTP app on a free loopback port, for the proxy runtime."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"upstream saw host {self.headers['Host']}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
