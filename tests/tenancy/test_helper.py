"""The root helper refuses everything outside its closed list of verbs and grammars, and
changes nothing when it refuses (run for real as root, against a temp web root)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from panel.tenancy import helper
from panel.tenancy.helper import GECOS_PREFIX, HelperError, call

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the helper's verbs need root")

ROOT = Path(__file__).resolve().parents[2]
USER = "np0123456789"
DOMAIN = "helper-test.example"
HOSTILE = [
    "../etc",
    "a/../../b",
    "np0123456789\nroot",
    "np 0123456789",
    "x" * 300,
    "npüüüüüüüüüü",
    "",
    "-rf",
    "/etc/passwd",
    "np0123456789;id",
]
BAD_DOMAINS = [
    "../etc",
    "a..b",
    "-a.example",
    "A.EXAMPLE",
    "a.example.",
    "a b.example",
    "é.example",
    "a.example/x",
    "x" * 260,
]


@pytest.fixture
def cfg(tmp_path):
    web_root = tmp_path / "www"
    web_root.mkdir()
    (tmp_path / "pools").mkdir()
    raw = {
        "web_root": str(web_root),
        "nginx_group": "nogroup",
        "sftp_group": "np-test-sftp",
        "pool_dir": str(tmp_path / "pools"),
        "socket_dir": str(tmp_path / "sock"),
        "keys_dir": str(tmp_path / "keys"),
        "fpm_test_cmd": "true",
        "fpm_reload_cmd": "",
        "php_max_children": 5,
        "php_idle_timeout": 10,
        "php_request_timeout": 90,
        "php_memory_limit": "256M",
        "php_max_execution_time": 60,
        "php_upload_max_filesize": "64M",
        "php_post_max_size": "64M",
        "uploads_dir": str(tmp_path / "uploads"),
        "panel_group": "root",
        "upload_max_entries": 100,
        "upload_max_unpacked": 10_000_000,
    }
    yield helper.check_config(raw)
    for name in (USER, "np00000000aa"):
        subprocess.run(["userdel", "-f", name], capture_output=True, check=False)
    subprocess.run(["groupdel", "np-test-sftp"], capture_output=True, check=False)


def _snapshot(path: Path) -> list[tuple[str, int, int, int]]:
    out = []
    for dirpath, dirs, files in os.walk(path):
        for name in sorted(dirs + files):
            st = os.lstat(os.path.join(dirpath, name))
            out.append((os.path.join(dirpath, name), st.st_mode, st.st_uid, st.st_gid))
    return sorted(out)


def _passwd() -> str:
    return Path("/etc/passwd").read_text()


def test_unknown_verb_and_wrong_argument_counts_are_refused(cfg):
    with pytest.raises(HelperError, match="unknown verb"):
        call(cfg, "rm-rf", [])
    with pytest.raises(HelperError, match="unknown verb"):
        call(cfg, "useradd", [USER, DOMAIN])
    with pytest.raises(HelperError, match="takes 2 argument"):
        call(cfg, "user-create", [USER])
    with pytest.raises(HelperError, match="takes 2 argument"):
        call(cfg, "user-create", [USER, DOMAIN, "--extra"])
    with pytest.raises(HelperError, match="takes 0 argument"):
        call(cfg, "fpm-test", ["-c", "/tmp/evil.conf"])


@pytest.mark.parametrize("verb", [v for v, spec in helper.VERBS.items() if spec.args])
def test_hostile_arguments_are_refused_for_every_verb_and_change_nothing(cfg, verb):
    spec = helper.VERBS[verb]
    good = {
        "user": USER,
        "domain": DOMAIN,
        "runtime": "php",
        "nonce": "a" * 32,
        "upload": "x.zip",
        "staged": f"{cfg['uploads_dir']}/00000000-0000-0000-0000-000000000000/upload.zip",
    }
    before_fs, before_pw = _snapshot(Path(cfg["web_root"]).parent), _passwd()
    for position, kind in enumerate(spec.args):
        values = HOSTILE + (BAD_DOMAINS if kind == "domain" else [])
        for value in values:
            args = [good[k] for k in spec.args]
            args[position] = value
            with pytest.raises(HelperError, match="refused"):
                call(cfg, verb, args)
    assert _snapshot(Path(cfg["web_root"]).parent) == before_fs
    assert _passwd() == before_pw


@pytest.mark.parametrize("name", ["root", "nobody", "www-data"])
def test_users_the_panel_did_not_create_are_refused(cfg, name):
    before = _passwd()
    # These do not even pass the grammar; a name that does but lacks the marker is below.
    for verb in ("user-delete", "home-setup", "fix-ownership", "home-remove"):
        with pytest.raises(HelperError, match="refused"):
            call(cfg, verb, [name, DOMAIN])
    assert _passwd() == before
    assert pwd.getpwnam(name)


def test_a_user_with_a_panel_like_name_but_no_marker_is_not_touched(cfg):
    subprocess.run(["useradd", "-M", "-c", "someone else", USER], check=True)
    before = _passwd()
    for verb in ("user-create", "user-delete", "home-setup", "home-adopt", "fix-ownership"):
        with pytest.raises(HelperError, match="not created by the panel"):
            call(cfg, verb, [USER, DOMAIN])
    assert _passwd() == before
    assert not (Path(cfg["web_root"]) / DOMAIN).exists()


def test_a_panel_user_of_another_domain_is_refused(cfg):
    call(cfg, "user-create", [USER, DOMAIN])
    with pytest.raises(HelperError, match="not created by the panel for other.example"):
        call(cfg, "user-delete", [USER, "other.example"])
    assert pwd.getpwnam(USER).pw_gecos == GECOS_PREFIX + DOMAIN


def test_user_and_home_are_created_idempotently_with_the_right_owners_and_modes(cfg):
    import grp
    import stat

    for _ in range(2):
        call(cfg, "user-create", [USER, DOMAIN])
        call(cfg, "home-setup", [USER, DOMAIN])
    entry = pwd.getpwnam(USER)
    home = Path(cfg["web_root"]) / DOMAIN
    assert entry.pw_dir == str(home) and entry.pw_shell == "/usr/sbin/nologin"
    assert entry.pw_gecos == GECOS_PREFIX + DOMAIN
    assert USER in grp.getgrnam("np-test-sftp").gr_mem
    nogroup = grp.getgrnam("nogroup").gr_gid

    def owner_mode(path: Path) -> tuple[int, int, int]:
        st = path.lstat()
        return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)

    assert owner_mode(home) == (0, 0, 0o755)
    assert owner_mode(home / "public") == (entry.pw_uid, nogroup, 0o2750)
    # logs/: the panel's group (here root's) reads it, no site user (docs/operations.md).
    assert owner_mode(home / "logs") == (0, 0, 0o750)
    assert owner_mode(home / "tmp") == (entry.pw_uid, entry.pw_gid, 0o700)
    call(cfg, "default-page", [USER, DOMAIN, "php"])
    assert owner_mode(home / "public" / "index.php") == (entry.pw_uid, nogroup, 0o640)
    call(cfg, "home-remove", [USER, DOMAIN])
    call(cfg, "user-delete", [USER, DOMAIN])
    assert not home.exists()
    with pytest.raises(KeyError):
        pwd.getpwnam(USER)
    # Both again: nothing left to do, no error.
    call(cfg, "home-remove", [USER, DOMAIN])
    call(cfg, "user-delete", [USER, DOMAIN])


def test_a_home_that_is_a_symlink_is_refused(cfg, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (Path(cfg["web_root"]) / DOMAIN).symlink_to(outside)
    call(cfg, "user-create", [USER, DOMAIN])
    before = _snapshot(outside)
    for verb in ("home-setup", "home-remove", "fix-ownership", "home-adopt"):
        with pytest.raises(HelperError, match="symbolic link"):
            call(cfg, verb, [USER, DOMAIN])
    assert _snapshot(outside) == before
    assert (outside / "keep.txt").read_text() == "keep"
    assert os.stat(outside).st_uid == 0


def test_links_inside_public_are_never_followed(cfg, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root only")
    secret.chmod(0o600)
    call(cfg, "user-create", [USER, DOMAIN])
    call(cfg, "home-setup", [USER, DOMAIN])
    public = Path(cfg["web_root"]) / DOMAIN / "public"
    (public / "link").symlink_to(secret)
    (public / "dir").mkdir()
    (public / "dir" / "f").write_text("x")
    call(cfg, "fix-ownership", [USER, DOMAIN])
    uid = pwd.getpwnam(USER).pw_uid
    assert (public / "dir" / "f").stat().st_uid == uid
    assert (public / "link").lstat().st_uid == uid
    assert secret.stat().st_uid == 0  # the link's target kept its owner
    call(cfg, "home-remove", [USER, DOMAIN])
    assert secret.read_text() == "root only"


def test_adopting_an_old_site_moves_every_file_into_public_and_can_resume(cfg):
    home = Path(cfg["web_root"]) / DOMAIN
    home.mkdir()
    (home / "index.html").write_text("old site")
    (home / "public").mkdir()  # the old site's own folder named public
    (home / "public" / "app.css").write_text("css")
    call(cfg, "user-create", [USER, DOMAIN])
    # Interrupted after the first rename: the next run picks up from there.
    os.rename(home, home.with_name(f".np-adopt-{DOMAIN}"))
    call(cfg, "home-adopt", [USER, DOMAIN])
    assert (home / "public" / "index.html").read_text() == "old site"
    assert (home / "public" / "public" / "app.css").read_text() == "css"
    assert call(cfg, "home-adopt", [USER, DOMAIN]) == "home already adopted"
    assert (home / "public" / "index.html").read_text() == "old site"


def test_pool_file_for_a_site(cfg):
    call(cfg, "user-create", [USER, DOMAIN])
    call(cfg, "pool-write", [USER, DOMAIN])
    text = (Path(cfg["pool_dir"]) / f"{DOMAIN}.conf").read_text()
    home = f"{cfg['web_root']}/{DOMAIN}"
    assert f"[{USER}]\nuser = {USER}\ngroup = {USER}\n" in text
    assert f"listen = {cfg['socket_dir']}/{USER}.sock" in text
    assert "pm = ondemand" in text and "listen.mode = 0660" in text
    assert f"php_admin_value[open_basedir] = {home}/public:{home}/tmp" in text
    call(cfg, "pool-remove", [DOMAIN])
    assert not (Path(cfg["pool_dir"]) / f"{DOMAIN}.conf").exists()


def test_a_pool_php_fpm_refuses_is_rolled_back(cfg):
    call(cfg, "user-create", [USER, DOMAIN])
    cfg = {**cfg, "fpm_test_cmd": f"sh -c 'test ! -e {cfg['pool_dir']}/{DOMAIN}.conf'"}
    with pytest.raises(HelperError, match="php-fpm refused the pool"):
        call(cfg, "pool-write", [USER, DOMAIN])
    assert list(Path(cfg["pool_dir"]).glob("*.conf")) == []
    result = json.loads(call(cfg, "pool-apply", [], stdin=json.dumps({DOMAIN: USER})))
    assert DOMAIN in result["rejected"] and result["applied"] == []


def test_pool_apply_validates_every_entry(cfg):
    for bad in ("[]", "not json", json.dumps({"../x": USER}), json.dumps({DOMAIN: "root"})):
        with pytest.raises(HelperError, match="refused"):
            call(cfg, "pool-apply", [], stdin=bad)
    assert list(Path(cfg["pool_dir"]).iterdir()) == []


def test_bad_configuration_values_are_refused(cfg):
    for key, value in [
        ("web_root", "/srv/www/../etc"),
        ("web_root", "/"),
        ("nginx_group", "www data"),
        ("php_memory_limit", "256M\nphp_admin_value[x]=1"),
        ("php_max_children", "5"),
        ("pool_dir", "relative/dir"),
    ]:
        with pytest.raises(HelperError, match="configuration"):
            helper.check_config({**cfg, key: value})


def test_the_program_reads_its_config_file_and_reports_refusals(cfg, tmp_path):
    path = tmp_path / "helper.json"
    path.write_text(json.dumps(cfg))
    path.chmod(0o644)
    env = {"PATH": os.environ["PATH"], "NUSANTARA_HELPER_CONFIG": str(path)}

    def helper_run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "panel.tenancy.helper", *args],
            cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, check=False,
        )  # fmt: skip

    ok = helper_run("user-create", USER, DOMAIN)
    assert ok.returncode == 0, ok.stderr
    assert "created" in ok.stdout
    refused = helper_run("user-delete", "root", DOMAIN)
    assert refused.returncode == 1 and "not a valid site user name" in refused.stderr
    unknown = helper_run("shell", "id")
    assert unknown.returncode == 1 and "unknown verb" in unknown.stderr
    applied = helper_run("pool-apply", stdin=json.dumps({DOMAIN: USER}))
    assert json.loads(applied.stdout)["applied"] == [DOMAIN]
    # A config file others can write is not trusted.
    path.chmod(0o666)
    writable = helper_run("fpm-test")
    assert writable.returncode == 1 and "writable only by root" in writable.stderr
    # The module imports no Django (it must run under sudo with a minimal environment).
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, panel.tenancy.helper; print('django' in sys.modules)"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.strip() == "False"


def test_the_helper_run_by_sudo_loads_its_companions_without_the_package(tmp_path):
    """Under sudo the wrapper runs `python3 -I helper.py`: no package on the path, so the key
    parser and the unpacker come from the root-owned files beside it (a checkout here)."""
    import subprocess

    helper = Path(__file__).resolve().parents[2] / "panel" / "tenancy" / "helper.py"
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('h', {str(helper)!r})\n"
        "h = importlib.util.module_from_spec(spec); sys.modules['h'] = h\n"
        "spec.loader.exec_module(h)\n"
        "assert 'panel' not in sys.modules\n"
        "print(h._companion('sshkeys').__name__, h._companion('unpack').__name__)\n"
        "try:\n    h._companion('os')\nexcept h.HelperError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "nusantara_sshkeys nusantara_unpack" in out.stdout
    assert "refused: os is not a companion module" in out.stdout


def test_the_sudo_wrapper_refuses_a_helper_someone_else_could_replace(tmp_path):
    """sudo runs bin/nusantara-helper as root: a helper file, or a directory above it, that a
    user other than root owns or may write is refused before Python starts."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[2]
    base = tmp_path / "install"
    (base / "bin").mkdir(parents=True)
    shutil.copy(root / "bin" / "nusantara-helper", base / "bin" / "nusantara-helper")
    shutil.copy(root / "panel" / "tenancy" / "helper.py", base / "bin" / "nusantara_helper.py")
    for path in (tmp_path, base, base / "bin"):
        path.chmod(0o755)

    def run() -> subprocess.CompletedProcess:
        wrapper = str(base / "bin" / "nusantara-helper")
        return subprocess.run([wrapper], capture_output=True, text=True)

    assert "usage: nusantara-helper" in run().stderr  # all root's: it runs
    (base / "bin").chmod(0o777)
    assert "refused" in run().stderr
    (base / "bin").chmod(0o755)
    os.chown(base / "bin" / "nusantara_helper.py", 65534, -1)  # nobody
    assert "refused" in run().stderr
    os.chown(base / "bin" / "nusantara_helper.py", 0, -1)
    os.chown(base, 65534, -1)  # a parent directory of someone else's
    out = run()
    assert "refused" in out.stderr and "usage" not in out.stderr


def test_owner_changes_need_the_kernels_hardlink_protection(monkeypatch, tmp_path):
    """Without fs.protected_hardlinks a customer could hard-link root's files into its tree for
    a root chown to hand over: the helper refuses to work on customers' trees then."""
    from panel.tenancy import helper

    off = tmp_path / "protected_hardlinks"
    off.write_text("0\n")
    monkeypatch.setattr(helper, "PROTECTED_HARDLINKS", str(off))  # a kernel setting: a fault
    with pytest.raises(helper.HelperError, match="protected_hardlinks=1"):
        helper._require_protected_hardlinks()
    off.write_text("1\n")
    helper._require_protected_hardlinks()
