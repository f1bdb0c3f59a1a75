"""Certificate tests: Pebble validates HTTP-01 against the suite's challenge directory."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from django.conf import settings


@pytest.fixture(scope="session")
def acme_data_dir(tmp_path_factory):
    """A private data dir (account key, challenge dir, certs) for the session."""
    data = tmp_path_factory.mktemp("data")
    names = ("NUSANTARA_DATA_DIR", "NUSANTARA_CHALLENGE_DIR", "NUSANTARA_CERT_DIR")
    saved = {n: getattr(settings, n) for n in names}
    settings.NUSANTARA_DATA_DIR = data
    settings.NUSANTARA_CHALLENGE_DIR = data / "acme-challenge"
    settings.NUSANTARA_CERT_DIR = data / "certs"
    settings.NUSANTARA_CHALLENGE_DIR.mkdir()
    yield data
    for n, v in saved.items():
        setattr(settings, n, v)


@pytest.fixture(scope="session")
def pebble_http_port(acme_data_dir):
    """Interim: a tiny HTTP server on the challenge dir until the suite's nginx exists."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(settings.NUSANTARA_CHALLENGE_DIR)
    )
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
