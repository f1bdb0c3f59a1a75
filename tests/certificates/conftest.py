"""Certificate tests: sites served by the suite's real nginx, Pebble validating through it."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from panel.sites.models import SiteStatus
from tests.factories import SiteFactory


@pytest.fixture
def unique_domain():
    """Vhosts outlive a test's database rows (nginx is per session): never reuse a name."""

    def make(prefix: str = "site") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}.example.com"

    return make


def wait_stable(nginx, domain: str, status: int = 200, timeout: float = 10) -> None:
    """Wait until nginx's answers for `domain` agree on `status` (see NginxService.wait_for)."""
    assert nginx.wait_for(domain, status=status, timeout=timeout).status == status


@dataclass
class Fetched:
    status: int
    body: str
    serial: str


def https_fetch(nginx, domain: str, cafile: str, path: str = "/", timeout: float = 3) -> Fetched:
    """GET over HTTPS with SNI = domain, verified against `cafile`; one fresh connection.
    The peer certificate is read right after the handshake (nginx may close the connection
    after the response, e.g. an old worker shutting down during a reload)."""
    ctx = ssl.create_default_context(cafile=cafile)
    sock = socket.create_connection(("127.0.0.1", nginx.https_port), timeout=timeout)
    with ctx.wrap_socket(sock, server_hostname=domain) as tls:
        leaf = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        conn = http.client.HTTPSConnection(domain, nginx.https_port, timeout=timeout)
        conn.sock = tls
        conn.request("GET", path, headers={"Host": domain})
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
    return Fetched(resp.status, body, format(leaf.serial_number, "x"))


def served_serial(nginx, domain: str, cafile: str) -> tuple[str | None, str]:
    """(serial of the verified certificate nginx serves for `domain` or None, why not)."""
    try:
        resp = https_fetch(nginx, domain, cafile, timeout=2)
    except OSError as exc:  # ssl.SSLError included: not (yet) serving a valid certificate
        return None, repr(exc)
    return (resp.serial, "") if resp.status == 200 else (None, f"HTTP {resp.status}")


def wait_https(nginx, domain: str, cafile: str, serial: str | None = None, timeout=10) -> str:
    """Wait until several HTTPS answers in a row verify (and carry `serial` if given) and no old
    worker accepts connections any more (see NginxService._settle)."""
    deadline = time.monotonic() + timeout
    streak, last, why = 0, None, ""
    while True:
        last, why = served_serial(nginx, domain, cafile)
        good = last is not None and (serial is None or last == serial)
        streak = streak + 1 if good else 0
        if streak >= 3 and len(nginx.accepting_workers()) == 1:
            break
        if time.monotonic() > deadline:
            log = (nginx.dir / "error.log").read_text(errors="replace")[-1500:]
            pytest.fail(f"{domain}: HTTPS never settled ({last} {why}); nginx error.log:\n{log}")
        time.sleep(0.02)
    return last


@pytest.fixture
def live_site(nginx, unique_domain):
    """An active site whose vhost nginx serves (rendered by the sites module's sync_site)."""
    from panel.sites.nginx import sync_site

    def make(prefix: str = "site", **kwargs):
        domain = unique_domain(prefix)
        site = SiteFactory(domain=domain, status=SiteStatus.ACTIVE, **kwargs)
        root = Path(site.root_path)
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        (root / "index.html").write_text(f"<h1>Welcome to {domain}</h1>\n")
        sync_site(site)
        wait_stable(nginx, domain)
        return site

    return make
