"""manage.py backup / restore: keys, certificates and vhosts survive a round trip with their
modes, the archive is private, and a hostile archive writes nothing."""

from __future__ import annotations

import io
import shutil
import stat
import tarfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

FILES = {
    "data/acme/pebble-14000-abc/account_key.json": ('{"kty": "EC"}', 0o600),
    "data/acme/pebble-14000-abc/account_url": ("https://ca.test/acct/1", 0o644),
    "data/certs/xn--bcher-kva.id/fullchain.pem": ("-----BEGIN CERTIFICATE-----", 0o600),
    "data/certs/xn--bcher-kva.id/privkey.pem": ("-----BEGIN PRIVATE KEY-----", 0o600),
    "data/secret_key": ("s3cret-key", 0o600),
    "nginx/sites/xn--bcher-kva.id.conf": ("server { listen 80; }", 0o644),
    "www/xn--bcher-kva.id/index.html": ("<h1>Buku</h1>", 0o644),
}


def _settings(root: Path) -> dict:
    return {
        "NUSANTARA_DATA_DIR": root / "data",
        "NUSANTARA_CERT_DIR": root / "data" / "certs",
        "NUSANTARA_NGINX_CONF_DIR": root / "nginx" / "sites",
        "NUSANTARA_WEB_ROOT": root / "www",
    }


@pytest.fixture
def host(tmp_path):
    root = tmp_path / "host"
    for rel, (text, mode) in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    (root / "data/certs/xn--bcher-kva.id").chmod(0o700)
    with override_settings(**_settings(root)):
        yield root


def _state(root: Path, *, web_root: bool = False) -> dict[str, tuple[str, int]]:
    return {
        rel: ((root / rel).read_text(), stat.S_IMODE((root / rel).stat().st_mode))
        for rel in FILES
        if (root / rel).exists() and (web_root or not rel.startswith("www/"))
    }


def test_backup_then_restore_brings_back_keys_certs_and_vhosts_with_modes(host, tmp_path):
    archive = tmp_path / "out" / "panel.tar.gz"
    out = StringIO()
    call_command("backup", str(archive), stdout=out)
    assert "6 file(s)" in out.getvalue()
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert "certs/xn--bcher-kva.id/privkey.pem" in names
    assert "vhosts/xn--bcher-kva.id.conf" in names
    assert not any(n.startswith("www") for n in names)  # web root only on request

    before = _state(host)
    for part in ("data", "nginx"):
        shutil.rmtree(host / part)
    call_command("restore", str(archive), stdout=StringIO())
    assert _state(host) == before
    assert stat.S_IMODE((host / "data/certs/xn--bcher-kva.id").stat().st_mode) == 0o700


def test_restore_goes_where_the_current_settings_say(host, tmp_path):
    archive = tmp_path / "panel.tar.gz"
    call_command("backup", str(archive), "--include-web-root", stdout=StringIO())
    other = tmp_path / "other-host"
    with override_settings(**_settings(other)):
        call_command("restore", str(archive), stdout=StringIO())
    assert _state(other, web_root=True) == _state(host, web_root=True)
    assert len(_state(other, web_root=True)) == len(FILES)


def test_restore_replaces_files_with_the_same_name_and_keeps_others(host, tmp_path):
    archive = tmp_path / "panel.tar.gz"
    call_command("backup", str(archive), stdout=StringIO())
    vhost = host / "nginx/sites/xn--bcher-kva.id.conf"
    vhost.write_text("broken")
    extra = host / "nginx/sites/new.example.conf"
    extra.write_text("server {}")
    call_command("restore", str(archive), stdout=StringIO())
    assert vhost.read_text() == "server { listen 80; }"
    assert extra.read_text() == "server {}"


def _hostile(
    tmp_path: Path, name: str, kind: bytes = tarfile.REGTYPE, manifest: bool = True
) -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        if manifest:
            data = b'{"format": 1}'
            info = tarfile.TarInfo("MANIFEST.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        good = tarfile.TarInfo("vhosts/good.conf")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        info = tarfile.TarInfo(name)
        info.type = kind
        if kind == tarfile.REGTYPE:
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        else:
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return path


@pytest.mark.parametrize(
    ("name", "kind", "reason"),
    [
        ("/etc/cron.d/evil", tarfile.REGTYPE, "absolute path"),
        ("vhosts/../../../evil.conf", tarfile.REGTYPE, "path with '..'"),
        ("certs/x/privkey.pem", tarfile.SYMTYPE, "links and devices are refused"),
        ("certs/x/privkey.pem", tarfile.LNKTYPE, "links and devices are refused"),
        ("home/evil", tarfile.REGTYPE, "not a part of a panel backup"),
    ],
)
def test_hostile_archive_is_refused_and_writes_nothing(host, tmp_path, name, kind, reason):
    archive = _hostile(tmp_path, name, kind)
    with pytest.raises(CommandError, match=reason):
        call_command("restore", str(archive), stdout=StringIO())
    assert not (host / "nginx/sites/good.conf").exists()
    assert not list((host / "data").glob(".restore-*"))


def test_archive_without_manifest_is_refused(host, tmp_path):
    with pytest.raises(CommandError, match="not made by `manage.py backup`"):
        call_command("restore", str(_hostile(tmp_path, "vhosts/x.conf", manifest=False)))


def test_not_an_archive_is_refused(host, tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("not a tarball")
    with pytest.raises(CommandError, match="not a readable"):
        call_command("restore", str(junk))
