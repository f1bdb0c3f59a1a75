"""panel.sites.nginx against a real nginx: render, apply as a transaction, rollback, recovery."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from panel.sites import nginx as ngx
from panel.sites.models import Runtime, Site
from tests.certificates.certgen import cert_pem, key_pem, make_leaf


def _site(domain: str, runtime: str = Runtime.STATIC, upstream: str | None = None) -> Site:
    from django.conf import settings

    return Site(
        domain=domain,
        runtime=runtime,
        upstream=upstream,
        root_path=str(settings.NUSANTARA_WEB_ROOT / domain),
    )


def _provision(site: Site) -> None:
    ngx.ensure_docroot(site)
    ngx.sync_site(site)


def test_static_site_is_served_by_host_header(nginx):
    site = _site("static-unit.example")
    _provision(site)
    resp = nginx.wait_for(site.domain)
    assert resp.status == 200 and "<h1>static-unit.example</h1>" in resp.body
    assert nginx.get("other.example").status == 404


def test_every_vhost_serves_the_shared_challenge_directory(nginx, settings):
    site = _site("challenge-unit.example")
    _provision(site)
    token_dir = settings.NUSANTARA_CHALLENGE_DIR / ".well-known" / "acme-challenge"
    token_dir.mkdir(parents=True, exist_ok=True)
    (token_dir / "tok123").write_text("tok123.thumb")
    resp = nginx.wait_for(site.domain, "/.well-known/acme-challenge/tok123")
    assert resp.status == 200 and resp.body == "tok123.thumb", resp
    assert resp.headers["Content-Type"].startswith("text/plain")


def test_rejected_change_is_rolled_back_and_kept_as_err(nginx, settings):
    good = _site("keeps-serving.example")
    _provision(good)
    bad = _site("broken-cert.example")
    fullchain, privkey = ngx.cert_paths(bad.domain)
    fullchain.parent.mkdir(parents=True)
    fullchain.write_text("not a certificate")
    privkey.write_text("not a key")
    mates = [_site(f"batch-mate{i}.example") for i in range(3)]
    for mate in mates:
        ngx.ensure_docroot(mate)
    changes = {s.domain: ngx.render_site(s) for s in [*mates[:2], bad, mates[2]]}
    result = ngx.apply(changes)
    assert set(result.rejected) == {bad.domain}, result
    assert "cannot load certificate" in result.rejected[bad.domain]
    assert "broken-cert.example/fullchain.pem" in result.rejected[bad.domain]
    assert result.applied == sorted(m.domain for m in mates) and result.reloaded, result
    assert not ngx.conf_path(bad.domain).exists()
    assert ngx.conf_path(bad.domain).with_name(f"{bad.domain}.conf.err").exists()
    for mate in mates:
        assert nginx.wait_for(mate.domain).status == 200
    assert nginx.config_ok()[0]
    assert nginx.get(good.domain).status == 200
    with pytest.raises(ngx.NginxError, match="broken-cert.example"):
        ngx.sync_site(bad)


def test_already_broken_config_is_refused_without_writing(nginx):
    hand_edit = nginx.conf_dir / "hand-edited.conf"
    hand_edit.write_text("server { this is not nginx }\n")
    try:
        site = _site("refused.example")
        with pytest.raises(ngx.NginxError, match="already broken"):
            ngx.sync_site(site)
        assert not ngx.conf_path(site.domain).exists()
    finally:
        hand_edit.unlink()


def test_interrupted_transaction_is_undone_by_the_next_writer(nginx, settings):
    site = _site("journal.example")
    _provision(site)
    before = ngx.conf_path(site.domain).read_text()
    # What a writer killed between writing and testing leaves behind.
    ngx._journal_begin([site.domain, "half-written.example"])
    ngx.conf_path(site.domain).write_text("garbage {")
    ngx.conf_path("half-written.example").write_text("garbage {")
    with ngx.writer_lock():
        pass
    assert ngx.conf_path(site.domain).read_text() == before
    assert not ngx.conf_path("half-written.example").exists()
    assert not (settings.NUSANTARA_DATA_DIR / "nginx-journal").exists()


def test_remove_site_leaves_nothing_behind(nginx, settings):
    site = _site("removed.example")
    _provision(site)
    cert_dir = settings.NUSANTARA_CERT_DIR / site.domain
    cert_dir.mkdir(parents=True)
    (cert_dir / "leftover").write_text("x")
    ngx.remove_site(site.domain, site.root_path)
    assert not ngx.conf_path(site.domain).exists()
    assert not (settings.NUSANTARA_WEB_ROOT / site.domain).exists()
    assert not cert_dir.exists()
    assert nginx.wait_for(site.domain, status=404).status == 404


def test_https_server_appears_when_certificate_files_exist(nginx, tmp_path):
    site = _site("tls-unit.example")
    _provision(site)
    _self_signed(site.domain)
    ngx.sync_site(site)
    resp = nginx.wait_for(site.domain, status=301)
    assert resp.headers["Location"] == f"https://{site.domain}:{nginx.https_port}/"
    challenge = nginx.get(site.domain, "/.well-known/acme-challenge/missing")
    assert challenge.status == 404  # still answered over HTTP, not redirected
    resp = nginx.wait_for_https(site.domain)
    assert resp.status == 200 and "tls-unit.example" in resp.body


def test_unsafe_paths_never_reach_a_vhost(nginx, settings):
    settings.NUSANTARA_PHP_FPM_SOCKET = "/run/php.sock; include /etc/passwd"
    with pytest.raises(ngx.NginxError, match="php-fpm socket"):
        ngx.render_site(_site("unsafe.example", Runtime.PHP))


def test_render_refuses_a_domain_that_is_not_normalised(nginx):
    with pytest.raises(ngx.NginxError):
        ngx.render_site(_site("Bad.Example"))
    with pytest.raises(Exception):  # noqa: B017 - ValidationError from the domain rules
        ngx.render_site(_site("a.com;"))


def test_journal_manifest_is_json(nginx, settings):
    ngx._journal_begin(["x.example"])
    manifest = settings.NUSANTARA_DATA_DIR / "nginx-journal" / "manifest.json"
    assert json.loads(manifest.read_text()) == {"x.example": False}
    ngx._journal_end()


def _self_signed(domain: str) -> None:
    key, cert = make_leaf([domain])
    fullchain, privkey = ngx.cert_paths(domain)
    fullchain.parent.mkdir(parents=True, exist_ok=True)
    fullchain.write_text(cert_pem(cert))
    privkey.write_text(key_pem(key))


def test_second_change_trusts_the_last_verified_state_and_tests_once(nginx):
    first, second = _site("verified-a.example"), _site("verified-b.example")
    ngx.ensure_docroot(first)
    ngx.apply({first.domain: ngx.render_site(first)})
    ngx.ensure_docroot(second)
    result = ngx.apply({second.domain: ngx.render_site(second)})
    assert result.applied == [second.domain] and result.tests == 1


def test_breakage_outside_the_batch_is_refused_as_already_broken(nginx):
    # The vhost files are unchanged since the last verified run, but a certificate they use was
    # overwritten by hand: nginx blames a file that is not ours to change in this batch.
    victim = _site("hand-broken.example")
    ngx.ensure_docroot(victim)
    _self_signed(victim.domain)
    ngx.sync_site(victim)
    fullchain, _ = ngx.cert_paths(victim.domain)
    fullchain.write_text("garbage")
    try:
        newcomer = _site("innocent.example")
        result = ngx.apply({newcomer.domain: ngx.render_site(newcomer)})
        assert "already broken" in result.rejected[newcomer.domain]
        assert not ngx.conf_path(newcomer.domain).exists()
    finally:
        ngx.conf_path(victim.domain).unlink()
        ngx.purge_site_files(victim.domain)


def _post(nginx, host: str, size: int, send_body: bool = True) -> int:
    """POST `size` bytes through nginx; without the body nginx still judges Content-Length."""
    conn = http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=10)
    try:
        conn.putrequest("POST", "/", skip_host=True)
        conn.putheader("Host", host)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        if send_body:
            conn.send(b"x" * size)
        return conn.getresponse().status
    finally:
        conn.close()


def test_request_body_limit_follows_the_setting(nginx, settings):
    site = _site("upload-unit.example")
    _provision(site)
    assert nginx.wait_for(site.domain).status == 200
    two_mb = 2 * 1024 * 1024
    # The default (64m) lets a 2 MB upload through to the site: a static site answers 405.
    assert "client_max_body_size 64m;" in ngx.conf_path(site.domain).read_text()
    assert _post(nginx, site.domain, two_mb) == 405
    settings.NUSANTARA_MAX_BODY_SIZE = "1m"
    ngx.sync_site(site)
    assert "client_max_body_size 1m;" in ngx.conf_path(site.domain).read_text()
    # The reload is asynchronous and GET / answers 200 before and after: poll the POST itself.
    deadline = time.monotonic() + 10
    while (status := _post(nginx, site.domain, two_mb, send_body=False)) != 413:
        assert time.monotonic() < deadline, f"still HTTP {status} for 2 MB after the reload"
        time.sleep(0.05)


@pytest.mark.parametrize("value", ["64 m", "1m;", "lots", "1m\n"])
def test_a_bad_body_size_setting_is_refused_before_nginx(nginx, settings, value):
    settings.NUSANTARA_MAX_BODY_SIZE = value
    with pytest.raises(ngx.NginxError, match="NUSANTARA_MAX_BODY_SIZE"):
        ngx.render_site(_site("bad-size.example"))


@pytest.fixture
def websocket_upstream():
    """A tiny upstream that answers an Upgrade with 101 and then echoes raw bytes; a request
    without the upgrade headers gets 400, so a proxy that drops them is caught."""
    server = socket.create_server(("127.0.0.1", 0))

    def handle(conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            headers = head.decode("latin-1").lower()
            if "upgrade: websocket" in headers and "connection: upgrade" in headers:
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\n"
                    b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                )
                conn.sendall(conn.recv(4096))  # echo one message
            else:
                conn.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 10\r\n"
                    b"Connection: close\r\n\r\nno upgrade"
                )

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed at teardown
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
    server.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_proxy_sites_pass_websocket_upgrades(nginx, websocket_upstream):
    site = _site("ws-unit.example", Runtime.PROXY, websocket_upstream)
    _provision(site)
    # The vhost is live once a plain request reaches the upstream (which wants an upgrade).
    assert nginx.wait_for(site.domain, status=400, text="no upgrade").status == 400
    with socket.create_connection(("127.0.0.1", nginx.http_port), timeout=10) as sock:
        sock.sendall(
            b"GET /chat HTTP/1.1\r\nHost: ws-unit.example\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        sock.sendall(b"selamat pagi")
        assert sock.recv(4096) == b"selamat pagi"


@pytest.mark.parametrize("runtime", [Runtime.STATIC, Runtime.PHP])
def test_dotfiles_are_never_served_but_well_known_is(nginx, runtime):
    site = _site(f"dotfiles-{runtime}.example", runtime)
    root = ngx.ensure_docroot(site)
    (root / ".env").write_text("DB_PASSWORD=rahasia\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[remote] url = secret\n")
    (root / "assets").mkdir()
    (root / "assets" / ".htpasswd").write_text("admin:secret\n")
    (root / ".hidden.php").write_text("<?php echo 'ran';")
    (root / ".well-known").mkdir()
    (root / ".well-known" / "security.txt").write_text("Contact: mailto:security@example\n")
    (root / "robots.txt").write_text("User-agent: *\n")
    ngx.sync_site(site)
    assert nginx.wait_for(site.domain, "/robots.txt").status == 200
    for path in ("/.env", "/.git/config", "/.git/", "/assets/.htpasswd", "/.hidden.php"):
        resp = nginx.get(site.domain, path)
        assert resp.status == 404, path
        assert "secret" not in resp.body and "rahasia" not in resp.body and resp.body != "ran"
    resp = nginx.get(site.domain, "/.well-known/security.txt")
    assert resp.status == 200 and "Contact:" in resp.body
