"""Pre-flight: prove the HTTP-01 check can pass before spending an attempt at the CA.

Let's Encrypt limits failed validations per account and name; a domain that does not point here,
or a vhost that does not serve the challenge path, would burn those attempts for nothing. So:
1. a random token written to the shared challenge directory must come back from nginx through
   NUSANTARA_HTTP_LISTEN with `Host: <domain>`;
2. when NUSANTARA_PUBLIC_ADDRESSES is set, every A/AAAA record of the domain must be one of them.
"""

from __future__ import annotations

import http.client
import ipaddress
import secrets
import socket
import time

from django.conf import settings
from django.utils.translation import gettext as _

from .acme import challenge_path, write_private


class PreflightError(Exception):
    """The check would fail at the CA; str() explains why in plain words."""


def local_http_address(listen: str | None = None) -> tuple[str, int]:
    """Where to reach our own nginx from `listen` ("80", "127.0.0.1:8080", "[::]:80", ...)."""
    value = (listen or settings.NUSANTARA_HTTP_LISTEN).split()[0]
    host, _sep, port = value.rpartition(":")
    if not _sep:
        host, port = "", value
    host = host.strip("[]")
    if host in ("", "*", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, int(port)


def _fetch(host: str, port: int, domain: str, token: str, timeout: float) -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", f"/.well-known/acme-challenge/{token}", headers={"Host": domain})
        resp = conn.getresponse()
        return resp.status, resp.read(4096).decode("utf-8", "replace").strip()
    finally:
        conn.close()


def check_challenge_path(domain: str, timeout: float = 5.0, settle: float = 3.0) -> None:
    failing = check_challenge_paths([domain], timeout=timeout, settle=settle)
    if failing:
        raise PreflightError(failing[domain])


def check_challenge_paths(
    domains: list[str], timeout: float = 5.0, settle: float = 3.0
) -> dict[str, str]:
    """Ask nginx for one test token under each name: {name: why it failed} for the names
    that did not give it back (empty when all did)."""
    token = "preflight-" + secrets.token_urlsafe(24)
    expected = secrets.token_urlsafe(32)
    path = challenge_path(token)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    write_private(path, expected, mode=0o644)
    host, port = local_http_address()
    # A reload is asynchronous: for a moment after a site's vhost was applied, nginx's old
    # worker still answers with the old configuration. Give it `settle` seconds.
    deadline = time.monotonic() + settle
    failing: dict[str, str] = {}
    try:
        for domain in domains:
            problem = _serves_token(host, port, domain, token, expected, timeout, deadline)
            if problem:
                failing[domain] = problem
    finally:
        path.unlink(missing_ok=True)
    return failing


def _serves_token(
    host: str, port: int, domain: str, token: str, expected: str, timeout: float, deadline: float
) -> str | None:
    delay = 0.05
    while True:
        try:
            status, body = _fetch(host, port, domain, token, timeout)
        except OSError as exc:
            if time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            return _(
                "Pre-flight check failed: the web server at %(addr)s did not answer "
                "(%(error)s). No request was sent to the certificate authority."
            ) % {"addr": f"{host}:{port}", "error": exc}
        if status == 200 and body == expected:
            return None
        if time.monotonic() >= deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    return _(
        "Pre-flight check failed: nginx does not serve the ACME challenge path for "
        "%(domain)s (http://%(domain)s/.well-known/acme-challenge/ answered HTTP "
        "%(status)s instead of the test token). No request was sent to the "
        "certificate authority."
    ) % {"domain": domain, "status": status}


def check_dns(domain: str) -> None:
    public = {ipaddress.ip_address(a.strip()) for a in settings.NUSANTARA_PUBLIC_ADDRESSES if a}
    if not public:
        return
    try:
        infos = socket.getaddrinfo(domain, 80, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise PreflightError(
            _(
                "Pre-flight check failed: %(domain)s does not resolve (%(error)s). Point its "
                "A/AAAA records to %(ours)s. No request was sent to the certificate authority."
            )
            % {"domain": domain, "error": exc.strerror, "ours": _join(public)}
        )
    found = {ipaddress.ip_address(info[4][0]) for info in infos}
    stray = found - public
    if stray:
        raise PreflightError(
            _(
                "Pre-flight check failed: %(domain)s points to %(found)s, but this server is "
                "%(ours)s. Update its A/AAAA records. No request was sent to the certificate "
                "authority."
            )
            % {"domain": domain, "found": _join(stray), "ours": _join(public)}
        )


def _join(addresses: set) -> str:
    return ", ".join(sorted(str(a) for a in addresses))


def preflight(domain: str) -> None:
    """Raise PreflightError unless the HTTP-01 check has a fair chance to pass."""
    check_dns(domain)
    check_challenge_path(domain)


def preflight_names(domains: list[str]) -> tuple[list[str], dict[str, str]]:
    """Each of a site's names through the same checks: (the names that pass, in order, and
    {name: why not} for the others), so a certificate can cover the names that work."""
    failing: dict[str, str] = {}
    for domain in domains:
        try:
            check_dns(domain)
        except PreflightError as exc:
            failing[domain] = str(exc)
    failing.update(check_challenge_paths([d for d in domains if d not in failing]))
    return [d for d in domains if d not in failing], failing
