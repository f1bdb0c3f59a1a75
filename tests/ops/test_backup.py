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


# --- links planted on the host (a customer owns the inside of their web root) -----------------


@pytest.fixture
def outside(tmp_path):
    """Stands for /etc/passwd: a file restore must never write or chmod."""
    path = tmp_path / "etc" / "passwd"
    path.parent.mkdir()
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    path.chmod(0o644)
    return path


def _unchanged(path: Path, text: str, mode: int) -> bool:
    return path.read_text() == text and stat.S_IMODE(path.stat().st_mode) == mode


def _web_backup(tmp_path: Path) -> Path:
    archive = tmp_path / "with-www.tar.gz"
    call_command("backup", str(archive), "--include-web-root", stdout=StringIO())
    return archive


def test_a_planted_link_in_place_of_a_file_is_refused_and_not_written_through(
    host, tmp_path, outside
):
    archive = _web_backup(tmp_path)
    index = host / "www/xn--bcher-kva.id/index.html"
    index.unlink()
    index.symlink_to(outside)
    with pytest.raises(CommandError, match="index.html is a symbolic link on this host"):
        call_command("restore", str(archive), stdout=StringIO())
    assert _unchanged(outside, "root:x:0:0:root:/root:/bin/bash\n", 0o644)
    assert index.is_symlink()
    # Nothing else was restored either: the refusal comes before the first write.
    vhost = host / "nginx/sites/xn--bcher-kva.id.conf"
    assert vhost.read_text() == "server { listen 80; }"


def test_a_planted_directory_link_is_neither_followed_nor_chmodded(host, tmp_path):
    (host / "www/xn--bcher-kva.id").chmod(0o777)  # the archive asks for 0777 on this directory
    archive = _web_backup(tmp_path)
    elsewhere = tmp_path / "etc-dir"
    elsewhere.mkdir(mode=0o700)
    shutil.rmtree(host / "www/xn--bcher-kva.id")
    (host / "www/xn--bcher-kva.id").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(CommandError, match="symbolic link on this host"):
        call_command("restore", str(archive), stdout=StringIO())
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o700
    assert list(elsewhere.iterdir()) == []


def test_a_link_planted_at_the_old_temporary_name_is_left_alone(host, tmp_path, outside):
    # Restore used to copy each file to the fixed name `.<name>.restore` and chmod it: a link
    # planted there sent root's write and chmod to the link's target.
    archive = _web_backup(tmp_path)
    (host / "www/xn--bcher-kva.id/index.html").write_text("changed")
    trap = host / "www/xn--bcher-kva.id/.index.html.restore"
    trap.symlink_to(outside)
    call_command("restore", str(archive), stdout=StringIO())
    assert _unchanged(outside, "root:x:0:0:root:/root:/bin/bash\n", 0o644)
    assert (host / "www/xn--bcher-kva.id/index.html").read_text() == "<h1>Buku</h1>"
    assert not (host / "www/xn--bcher-kva.id/index.html").is_symlink()


def test_a_link_planted_after_the_checks_stops_the_write(host, tmp_path, outside):
    """The checks run before writing; a link planted in between (a race) must still not be
    followed: every directory is opened with O_NOFOLLOW relative to its parent."""
    from panel.ops.backup import BackupError, _place

    source = tmp_path / "source.html"
    source.write_text("<h1>from the archive</h1>")
    web = host / "www"
    (web / "raced").symlink_to(outside.parent, target_is_directory=True)
    member = tarfile.TarInfo("www/raced/passwd")
    member.mode = 0o777
    with pytest.raises(BackupError, match="not a plain directory"):
        _place(source, web, ("raced", "passwd"), member)
    directory = tarfile.TarInfo("www/raced")
    directory.type, directory.mode = tarfile.DIRTYPE, 0o777
    with pytest.raises(BackupError, match="not a plain directory"):
        _place(source, web, ("raced",), directory)
    assert _unchanged(outside, "root:x:0:0:root:/root:/bin/bash\n", 0o644)
    assert stat.S_IMODE(outside.parent.stat().st_mode) != 0o777
    assert [p.name for p in outside.parent.iterdir()] == ["passwd"]


@pytest.mark.parametrize(
    ("name", "kind", "reason"),
    [
        ("vhosts/inside.conf", tarfile.SYMTYPE, "symbolic link to '/etc/passwd'"),
        ("vhosts/inside.conf", tarfile.LNKTYPE, "hard link to '/etc/passwd'"),
        ("vhosts/null", tarfile.CHRTYPE, "device file"),
        ("vhosts/disk", tarfile.BLKTYPE, "device file"),
        ("vhosts/pipe", tarfile.FIFOTYPE, "not a regular file or directory"),
        ("secret_key/x", tarfile.REGTYPE, "secret_key is a single file"),
        ("acme", tarfile.REGTYPE, "acme is a directory"),
        ("vhosts/good.conf", tarfile.REGTYPE, "appears twice"),
    ],
)
def test_more_hostile_archives_are_refused_with_the_reason(host, tmp_path, name, kind, reason):
    archive = _hostile(tmp_path, name, kind)
    with pytest.raises(CommandError, match=reason):
        call_command("restore", str(archive), stdout=StringIO())
    assert not (host / "nginx/sites/good.conf").exists()
    assert (host / "data/secret_key").read_text() == "s3cret-key"


def test_a_link_inside_the_tree_is_refused_too(host, tmp_path):
    path = tmp_path / "inside.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in ("MANIFEST.json", "vhosts/a.conf"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
        link = tarfile.TarInfo("vhosts/b.conf")
        link.type, link.linkname = tarfile.SYMTYPE, "a.conf"
        tar.addfile(link)
    with pytest.raises(CommandError, match="symbolic link to 'a.conf'"):
        call_command("restore", str(path), stdout=StringIO())
    assert not (host / "nginx/sites/a.conf").exists()
