"""The TLS profile of HTTPS vhosts (Mozilla "intermediate"), HSTS and OCSP stapling, against the
suite's real nginx. The full scan with sslyze is tests/certificates/test_tls_scan.py."""

from __future__ import annotations

import socket
import ssl

import pytest

from panel.sites import nginx as ngx
from panel.sites import tls
from panel.sites.models import Runtime, Site
from tests.certificates.certgen import cert_pem, key_pem, make_ca, make_leaf

HSTS = "Strict-Transport-Security"


def _site(domain: str, **fields) -> Site:
    from django.conf import settings

    return Site(
        domain=domain,
        runtime=Runtime.STATIC,
        root_path=str(settings.NUSANTARA_WEB_ROOT / domain),
        **fields,
    )


def _install(domain: str, *, ca=None, ocsp_url: str | None = None, with_issuer: bool = True):
    key, leaf = make_leaf([domain], ca=ca, ocsp_url=ocsp_url)
    fullchain, privkey = ngx.cert_paths(domain)
    fullchain.parent.mkdir(parents=True, exist_ok=True)
    fullchain.write_text(cert_pem(leaf) + (cert_pem(ca[1]) if ca and with_issuer else ""))
    privkey.write_text(key_pem(key))
    privkey.chmod(0o600)


def _handshake(port: int, domain: str, cipher: str) -> str:
    """Offer only `cipher` over TLS 1.2; return what the server chose or raise ssl.SSLError."""
    ctx = ssl._create_unverified_context()
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        ctx.wrap_socket(sock, server_hostname=domain) as conn,
    ):
        return conn.cipher()[0]


def test_https_vhosts_follow_the_intermediate_profile_and_share_one_session_cache(nginx):
    sites = [_site(f"tls-profile-{n}.example") for n in range(3)]
    for site in sites:
        ngx.ensure_docroot(site)
        _install(site.domain)
    # Three vhosts declaring the same session cache zone in one transaction: nginx accepts it.
    result = ngx.apply({site.domain: ngx.render_site(site) for site in sites})
    assert result.rejected == {} and result.applied == sorted(s.domain for s in sites)
    ok, err = nginx.config_ok()
    assert ok, err
    for site in sites:
        resp = nginx.wait_for_https(site.domain)
        assert resp.status == 200 and site.domain in resp.body
        assert HSTS not in resp.headers  # off unless the owner switches it on

    conf = ngx.conf_path(sites[0].domain).read_text()
    for line in (
        "ssl_protocols TLSv1.2 TLSv1.3;",
        f"ssl_ciphers {':'.join(tls.MOZILLA_INTERMEDIATE_CIPHERS)};",
        "ssl_ecdh_curve X25519:prime256v1:secp384r1;",
        "ssl_prefer_server_ciphers off;",
        "ssl_session_timeout 1d;",
        "ssl_session_cache shared:nusantara_sites:10m;",
        "ssl_session_tickets off;",
    ):
        assert line in conf
    # A self-signed certificate names no OCSP responder: no stapling, so no nginx warning.
    assert "ssl_stapling" not in conf

    # What a client notices: a CBC suite that OpenSSL's defaults would accept is refused;
    # one of the profile's AEAD suites is accepted.
    domain = sites[0].domain
    assert _handshake(nginx.https_port, domain, "ECDHE-ECDSA-AES128-GCM-SHA256") == (
        "ECDHE-ECDSA-AES128-GCM-SHA256"
    )
    with pytest.raises(ssl.SSLError):
        _handshake(nginx.https_port, domain, "ECDHE-ECDSA-AES128-SHA256")


def test_hsts_header_is_sent_over_https_only_and_only_when_enabled(nginx):
    site = _site("hsts-unit.example", hsts=True)
    ngx.ensure_docroot(site)
    ngx.sync_site(site)
    # No certificate yet: no HTTPS server, and never the header over plain HTTP.
    assert HSTS not in ngx.render_site(site)
    resp = nginx.wait_for(site.domain)
    assert resp.status == 200 and HSTS not in resp.headers

    _install(site.domain)
    ngx.sync_site(site)
    resp = nginx.wait_for_https(site.domain)
    assert resp.status == 200 and resp.headers[HSTS] == "max-age=63072000"
    # `always`: error answers carry it too.
    assert nginx.https_get(site.domain, "/missing").headers[HSTS] == "max-age=63072000"
    redirect = nginx.wait_for(site.domain, status=301)
    assert HSTS not in redirect.headers

    site.hsts = False
    ngx.sync_site(site)
    nginx.wait_for_https(site.domain)  # settled: only the new worker accepts connections
    assert HSTS not in nginx.https_get(site.domain).headers


def test_ocsp_stapling_only_for_a_certificate_that_names_a_responder(nginx):
    ca = make_ca()
    stapled = _site("ocsp-unit.example")
    ngx.ensure_docroot(stapled)
    _install(stapled.domain, ca=ca, ocsp_url="http://127.0.0.1:9/ocsp")
    ngx.sync_site(stapled)
    conf = ngx.conf_path(stapled.domain).read_text()
    assert "ssl_stapling on;" in conf and "ssl_stapling_verify on;" in conf
    ok, err = nginx.config_ok()
    assert ok, err
    # The responder is unreachable: nginx serves on without a staple.
    assert nginx.wait_for_https(stapled.domain).status == 200

    # Without the issuer in the chain nginx could not check an answer: no stapling.
    _install(stapled.domain, ca=ca, ocsp_url="http://127.0.0.1:9/ocsp", with_issuer=False)
    assert "ssl_stapling" not in ngx.render_site(stapled)
    # Without an OCSP URL (Let's Encrypt since 2025, Pebble): no stapling.
    _install(stapled.domain, ca=ca)
    assert "ssl_stapling" not in ngx.render_site(stapled)
    # An unreadable chain is nginx's own test to report, not a crash of the renderer.
    fullchain, _key = ngx.cert_paths(stapled.domain)
    fullchain.write_text("not a certificate")
    assert tls.has_ocsp_responder(fullchain) is False
    _install(stapled.domain)
    ngx.sync_site(stapled)
