"""gixy (the nginx configuration analyser) on the configuration the panel really produces: a
vhost of every kind, included from each main config we ship, as an administrator installs it.

No HIGH finding at all; every MEDIUM one must be on ALLOWED below, each with the reason it is
fine (docs/security.md "gixy findings"). The same wrappers also pass the real `nginx -t`.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from panel.sites import nginx as ngx
from panel.sites.models import Runtime, Site
from tests.certificates.certgen import cert_pem, key_pem, make_leaf
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
GIXY = [sys.executable, "-m", "gixy"]

# (plugin, why it is fine). Keep docs/security.md in step.
ALLOWED = {
    "hsts_header": (
        "HSTS is a per-site choice of the owner, off by default: once sent it cannot be taken "
        "back from browsers for two years, so the panel never turns it on by itself."
    ),
    "try_files_is_evil_too": (
        "A performance hint, not a security one: open_file_cache would keep serving deleted or "
        "replaced files for its validity period, which customers uploading over SFTP would "
        "notice; try_files is how static and PHP sites find their files."
    ),
}

# Only in Debian's own nginx.conf, which the panel does not ship (the Docker image's is ours and
# sets it). A capacity setting, not a security one: docs/security.md says when to raise it.
ALLOWED_IN_DEBIAN_STOCK = {
    "worker_rlimit_nofile_vs_connections": (
        "Debian's stock nginx.conf has worker_connections 768 and no worker_rlimit_nofile; "
        "busy servers add `worker_rlimit_nofile 2048;` to it."
    ),
}

# Debian 12's stock /etc/nginx/nginx.conf (package nginx-common), without its comments: the
# main config the Debian install (docs/operations.md, step 7) puts our two files under.
DEBIAN_MAIN = """\
user www-data;
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{
    worker_connections 768;
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
    ssl_prefer_server_ciphers on;
    access_log {dir}/access.log;
    gzip on;
    include {dir}/conf.d/*.conf;
    include {dir}/sites-enabled/*;
}}
"""


def _site(domain: str, runtime: str = Runtime.STATIC, **fields) -> Site:
    from django.conf import settings

    return Site(
        domain=domain,
        runtime=runtime,
        root_path=str(settings.NUSANTARA_WEB_ROOT / domain),
        **fields,
    )


def _self_signed(domain: str, names: list[str] | None = None) -> None:
    key, cert = make_leaf(names or [domain])
    fullchain, privkey = ngx.cert_paths(domain)
    fullchain.parent.mkdir(parents=True, exist_ok=True)
    fullchain.write_text(cert_pem(cert))
    privkey.write_text(key_pem(key))
    privkey.chmod(0o600)


@pytest.fixture
def vhosts(tmp_path, settings) -> Path:
    """Render one vhost of every kind into <tmp>/sites, as the worker would on a server."""
    settings.NUSANTARA_CERT_DIR = tmp_path / "certs"
    settings.NUSANTARA_WEB_ROOT = tmp_path / "www"
    settings.NUSANTARA_CHALLENGE_DIR = tmp_path / "acme-challenge"
    settings.NUSANTARA_HTTP_LISTEN = "80"
    settings.NUSANTARA_HTTPS_LISTEN = "443"
    kinds = [
        _site("static.example"),
        _site("php.example", Runtime.PHP),
        _site("proxy.example", Runtime.PROXY, upstream="127.0.0.1:3000"),
        _site("https.example"),
        _site("hsts.example", Runtime.PHP, hsts=True),
        _site("suspended.example", suspended_at=timezone.now()),
        # Other names: redirected to www. over HTTPS, one of them outside the certificate...
        _site("names.example", redirect_mode="to_www"),
        # ...and a site moved to a new name (every other name redirects to it), on HTTP.
        _site("moved.example", redirect_mode="to_alias", redirect_to="new-name.example"),
    ]
    kinds[-2].alias_override = ["www.names.example", "uncovered.example"]
    kinds[-1].alias_override = ["new-name.example", "www.moved.example"]
    _self_signed("names.example", ["names.example", "www.names.example"])
    out = tmp_path / "sites"
    out.mkdir()
    for site in kinds:
        if site.domain in ("https.example", "hsts.example", "suspended.example"):
            _self_signed(site.domain)
        (out / f"{site.domain}.conf").write_text(ngx.render_site(site))
    assert "Strict-Transport-Security" in (out / "hsts.example.conf").read_text()
    assert "return 503" in (out / "suspended.example.conf").read_text()
    assert (
        "return 301 https://www.names.example$request_uri"
        in (out / "names.example.conf").read_text()
    )
    assert (
        "return 301 http://new-name.example$request_uri" in (out / "moved.example.conf").read_text()
    )
    return out


def _docker_main(tmp_path: Path, vhosts: Path) -> Path:
    text = (ROOT / "deploy/docker/nginx.conf").read_text()
    text = text.replace("/etc/nginx/nusantara-sites/", f"{vhosts}/")
    text = text.replace("/run/nginx/nginx.pid", f"{tmp_path}/docker.pid")
    text = text.replace("/tmp/nginx/", f"{tmp_path}/tmp/")
    main = tmp_path / "docker-nginx.conf"
    main.write_text(text)
    return main


def _debian_main(tmp_path: Path, vhosts: Path) -> Path:
    base = tmp_path / "debian"
    (base / "conf.d").mkdir(parents=True)
    (base / "sites-enabled").mkdir()
    sites = (ROOT / "deploy/nginx/nusantara-sites.conf").read_text()
    (base / "conf.d/nusantara-sites.conf").write_text(
        sites.replace("/etc/nginx/nusantara-sites/", f"{vhosts}/")
    )
    # The panel's own server, with the certificate certbot would have written.
    key, cert = make_leaf(["panel.example.com"])
    (base / "panel.crt").write_text(cert_pem(cert))
    (base / "panel.key").write_text(key_pem(key))
    panel = (ROOT / "deploy/nginx/nusantara-panel.conf").read_text()
    panel = panel.replace(
        "/etc/letsencrypt/live/panel.example.com/fullchain.pem", f"{base}/panel.crt"
    )
    panel = panel.replace(
        "/etc/letsencrypt/live/panel.example.com/privkey.pem", f"{base}/panel.key"
    )
    (base / "sites-enabled/nusantara-panel.conf").write_text(panel)
    main = base / "nginx.conf"
    main.write_text(DEBIAN_MAIN.format(dir=base))
    # The edit docs/operations.md step 7 makes to Debian's nginx.conf, run as written there.
    (sed,) = [
        line
        for line in (ROOT / "docs/operations.md").read_text().splitlines()
        if line.startswith("sed -i") and "ssl_protocols" in line
    ]
    argv = shlex.split(sed.replace("/etc/nginx/nginx.conf", str(main)))
    subprocess.run(argv, check=True)
    assert "TLSv1.1" not in main.read_text()
    return main


def _gixy(main: Path) -> list[dict]:
    res = subprocess.run(
        [*GIXY, "-f", "json", str(main)], capture_output=True, text=True, timeout=120
    )
    # gixy exits non-zero when it finds something; its JSON on stdout is the verdict.
    assert res.stdout.strip().startswith("["), res.stderr[-2000:]
    return json.loads(res.stdout)


def _where(finding: dict) -> str:
    return f"{finding['plugin']} ({finding['severity']}) in {finding.get('file')}: " + (
        finding.get("reason") or finding.get("summary", "")
    )


@pytest.mark.parametrize("which", ["docker", "debian"])
def test_gixy_finds_nothing_unexplained_in_the_shipped_configs(which, vhosts, tmp_path):
    require(shutil.which("nginx") is not None, "nginx is not installed (apt-get install nginx)")
    (tmp_path / "tmp").mkdir()
    main = (_docker_main if which == "docker" else _debian_main)(tmp_path, vhosts)

    # What gixy reads is a configuration nginx really accepts.
    test = subprocess.run(
        ["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
    )
    assert test.returncode == 0, test.stderr

    findings = _gixy(main)
    high = [_where(f) for f in findings if f["severity"] == "HIGH"]
    assert high == []
    allowed = set(ALLOWED)
    unexplained = [
        _where(f)
        for f in findings
        if f["severity"] == "MEDIUM"
        and f["plugin"] not in allowed
        and not (
            which == "debian"
            and f["plugin"] in ALLOWED_IN_DEBIAN_STOCK
            and Path(f.get("file") or "") == main
        )
    ]
    assert unexplained == []
    # HSTS is flagged for the HTTPS vhosts without it, never for the one that has it.
    hsts = " ".join(f.get("config", "") for f in findings if f["plugin"] == "hsts_header")
    assert "https.example" in hsts and "hsts.example" not in hsts


def test_gixy_would_flag_what_we_fixed(vhosts, tmp_path):
    """The check can fail: without `server_tokens off` gixy reports a HIGH finding."""
    (tmp_path / "tmp").mkdir()
    main = _docker_main(tmp_path, vhosts)
    main.write_text(main.read_text().replace("server_tokens off;", ""))
    assert any(f["severity"] == "HIGH" for f in _gixy(main))
