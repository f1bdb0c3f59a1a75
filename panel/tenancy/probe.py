"""The proof before `active`: after the reload, ask the real nginx for the site.

Static: a one-time file with a nonce must come back (nginx serves this vhost and can read the
site's files). PHP: a one-time script must print the nonce and the name of the user PHP runs
as, which must be the site's own user. Proxy: nginx must answer (the customer's app may not run
yet). A failure says what is wrong in words a person can act on. `NUSANTARA_PROBE=off` skips it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import socket
import ssl
import time
from pathlib import Path

from django.conf import settings

from panel.sites import nginx
from panel.sites.models import Runtime, Site

from . import helper, homes, rootcmd

SETTLE_5XX = 3.0  # a php-fpm reload can answer 502 for a moment; longer than this is real


class ProbeFailed(Exception):
    """The site is not served as it should be; the message says why."""


def probe_address() -> tuple[str, int]:
    value = settings.NUSANTARA_PROBE_ADDRESS.strip() or settings.NUSANTARA_HTTP_LISTEN
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "", value
    host = host.strip("[]")
    if host in ("", "*", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, int(port)


def _https_port() -> int:
    return int(settings.NUSANTARA_HTTPS_LISTEN.rpartition(":")[2])


def _fetch(site: Site, path: str, https: bool) -> tuple[int, str]:
    host, port = probe_address()
    if https:
        port = _https_port()
        # The proof is about the vhost, not the chain (a fresh certificate may be a staging one).
        ctx = ssl._create_unverified_context()  # noqa: S323
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=5, context=ctx
        )
        sock = socket.create_connection((host, port), timeout=5)
        conn.sock = ctx.wrap_socket(sock, server_hostname=site.domain)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": site.domain, "User-Agent": "nusantara-probe"})
        resp = conn.getresponse()
        return resp.status, resp.read(4096).decode("utf-8", "replace")
    finally:
        conn.close()


def _explain_5xx(site: Site, status: int, where: str) -> str:
    if site.runtime == Runtime.PHP and status == 502:
        sock = homes.php_socket(site)
        if not os.path.exists(sock):
            return (
                f"php-fpm is not running for this site (no socket at {sock}); nginx answered 502."
            )
        return f"nginx could not pass the request to php-fpm at {sock} (502 Bad Gateway)."
    if status == 504:
        return f"PHP did not answer in time on {where} (504 Gateway Timeout)."
    return f"nginx answered HTTP {status} on {where} for {site.domain}."


def _write_probe(site: Site, nonce: str) -> None:
    kind = "php" if site.runtime == Runtime.PHP else "static"
    if homes.isolated(site):
        assert site.system_user  # isolated() says so
        rootcmd.run("probe-create", site.system_user, site.domain, kind, nonce)
        return
    ext, body = helper.PROBES[kind]
    path = Path(site.root_path) / f"{helper.PROBE_PREFIX}{nonce}.{ext}"
    path.write_text(body.format(nonce=nonce))
    path.chmod(0o644)


def _remove_probe(site: Site, nonce: str) -> None:
    if homes.isolated(site):
        assert site.system_user  # isolated() says so
        rootcmd.run("probe-remove", site.system_user, site.domain, nonce)
        return
    for ext, _body in helper.PROBES.values():
        (Path(site.root_path) / f"{helper.PROBE_PREFIX}{nonce}.{ext}").unlink(missing_ok=True)


def prove(site: Site) -> str:
    """Prove the site is served as the database says; returns a note for the job's log."""
    if settings.NUSANTARA_PROBE == "off":
        return "probe skipped (NUSANTARA_PROBE=off)"
    if site.suspended_at is not None:
        return "probe skipped: the site is suspended"
    fullchain, privkey = nginx.cert_paths(site.domain)
    https = fullchain.is_file() and privkey.is_file()
    host, port = probe_address()
    where = f"{host}:{_https_port() if https else port}"
    if site.runtime == Runtime.PROXY:
        return _prove_answer(site, https, where)
    nonce = secrets.token_hex(16)
    ext = "php" if site.runtime == Runtime.PHP else "txt"
    _write_probe(site, nonce)
    try:
        return _prove_nonce(site, f"/{helper.PROBE_PREFIX}{nonce}.{ext}", nonce, https, where)
    finally:
        with contextlib.suppress(rootcmd.HelperError, OSError):
            _remove_probe(site, nonce)


def _prove_answer(site: Site, https: bool, where: str) -> str:
    deadline = time.monotonic() + settings.NUSANTARA_PROBE_TIMEOUT
    while True:
        try:
            status, _body = _fetch(site, "/", https)
            return f"probe: nginx answers for {site.domain} on {where} (HTTP {status})"
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise ProbeFailed(f"nginx is not answering on {where}.")
            time.sleep(0.1)


def _prove_nonce(site: Site, path: str, nonce: str, https: bool, where: str) -> str:
    expected = site.system_user if homes.isolated(site) else None
    deadline = time.monotonic() + settings.NUSANTARA_PROBE_TIMEOUT
    first_5xx: float | None = None
    why = ""
    while True:
        now = time.monotonic()
        try:
            status, body = _fetch(site, path, https)
        except (OSError, http.client.HTTPException):
            status, body = 0, ""
            why = f"nginx is not answering on {where}."
            first_5xx = None
        if status == 200 and body.startswith(nonce):
            if site.runtime != Runtime.PHP:
                return f"probe: {site.domain} served its files through nginx on {where}"
            ran_as = body[len(nonce) :].strip()
            if expected and ran_as != expected:
                raise ProbeFailed(
                    f"PHP ran as {ran_as or 'an unknown user'} instead of {expected}: the site's "
                    "php-fpm pool is not the one nginx uses."
                )
            return f"probe: PHP ran as {ran_as} through nginx on {where}"
        if status >= 500:
            first_5xx = first_5xx or now
            why = _explain_5xx(site, status, where)
            if now - first_5xx > SETTLE_5XX:
                raise ProbeFailed(why)
        elif status:
            first_5xx = None
            why = (
                f"nginx answered HTTP {status} on {where} instead of the site's probe page "
                "(is the new vhost loaded, and can nginx read the site's public/ directory?)"
            )
        if now > deadline:
            raise ProbeFailed(why)
        time.sleep(0.1)
