"""The sudo path of `rootcmd.run`, for real: a worker that is not root reaches the root helper
through `NUSANTARA_HELPER_CMD=sudo -n <checkout>/bin/nusantara-helper`.

The test makes a temporary unprivileged system user and a sudoers file (checked with
`visudo -cf`) that lets that user run exactly the shipped wrapper as root, and nothing else.
The helper's configuration is `/etc/nusantara/helper.json`, written by `manage.py helper_config`
as root: that path is fixed. Under sudo the caller cannot choose another one: sudo's `env_reset`
drops the caller's NUSANTARA_HELPER_CONFIG, and the wrapper runs the helper with an empty
environment (`env -i`) anyway; the test sets that variable in the caller's environment, pointing
at another root-owned config, and checks it is ignored. An existing helper.json is put back.
The calls are made by a process that has dropped to the temporary user for good (this test's
Python lives under /root, which that user cannot enter). Everything (users, groups, sudoers
file, config, homes, key files) is removed at the end.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from panel.tenancy.helper import CONFIG_PATH, GECOS_PREFIX
from tests.conftest import require
from tests.services.worker import worker_env

from .keygen import ed25519_pair

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "bin" / "nusantara-helper"

# The caller: this test's Python lives under /root (0700), which the temporary user cannot
# enter, so the script starts as root, loads Django and the client, then drops to that user for
# good (groups, gid, uid) before the first call: from then on it is an unprivileged worker.
CALLS = """
import json, os, pwd, sys
import django
django.setup()
from panel.tenancy import rootcmd

caller = pwd.getpwnam(sys.argv[2])
os.setgroups([])
os.setgid(caller.pw_gid)
os.setuid(caller.pw_uid)
try:
    os.setuid(0)
except PermissionError:
    pass
else:
    sys.exit("still able to become root")
assert os.geteuid() == caller.pw_uid != 0
out = []
for verb, args, stdin in json.loads(sys.argv[1]):
    try:
        out.append(["ok", rootcmd.run(verb, *args, stdin=stdin)])
    except rootcmd.HelperError as exc:
        out.append(["refused", str(exc)])
print(json.dumps(out))
"""


def _run(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)


@pytest.fixture
def sudo_setup(tmp_path):
    """A caller user, a sudoers rule for the shipped wrapper, and a test web root under /srv."""
    require(os.geteuid() == 0, "the sudo path test creates users and a sudoers file (root)")
    for tool in ("sudo", "visudo", "runuser"):
        require(shutil.which(tool) is not None, f"{tool} is not installed (apt-get install sudo)")
    tag = secrets.token_hex(4)
    caller = f"npcall{tag}"
    base = Path("/srv") / f"np-sudo-{tag}"
    sudoers = Path("/etc/sudoers.d") / f"np-test-{tag}"
    config = Path(CONFIG_PATH)
    saved = config.read_bytes() if config.exists() else None
    made_config_dir = not config.parent.exists()
    try:
        _run("useradd", "--system", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", caller)
        pwd.getpwnam(caller)
        for path in (base, base / "www", base / "decoy"):
            path.mkdir(mode=0o755)
            os.chown(path, 0, 0)
        rule = (
            f"# Nusantara Panel test (tests/tenancy/test_helper_sudo.py), removed after the test.\n"
            f"Cmnd_Alias NP_TEST_HELPER_{tag.upper()} = {WRAPPER}\n"
            f"Defaults!NP_TEST_HELPER_{tag.upper()} !requiretty, !lecture, env_reset\n"
            f"{caller} ALL=(root) NOPASSWD: NP_TEST_HELPER_{tag.upper()}\n"
        )
        draft = tmp_path / "sudoers"
        draft.write_text(rule)
        check = _run("visudo", "-cf", str(draft))
        assert check.returncode == 0, check.stdout + check.stderr
        shutil.copyfile(draft, sudoers)
        sudoers.chmod(0o440)
        yield {"caller": caller, "base": base, "tag": tag}
    finally:
        sudoers.unlink(missing_ok=True)
        for entry in pwd.getpwall():
            if entry.pw_dir.startswith(f"{base}/") or entry.pw_name == caller:
                _run("userdel", "-f", entry.pw_name)
        _run("groupdel", f"npt{tag}")
        shutil.rmtree(base, ignore_errors=True)
        if saved is not None:
            config.write_bytes(saved)
        else:
            config.unlink(missing_ok=True)
            if made_config_dir:
                with contextlib.suppress(OSError):
                    config.parent.rmdir()


def _settings_env(base: Path, web_root: Path, tag: str) -> dict[str, str]:
    return worker_env(
        NUSANTARA_WEB_ROOT=web_root,
        NUSANTARA_NGINX_GROUP="nogroup",
        NUSANTARA_SFTP_GROUP=f"npt{tag}",
        NUSANTARA_SSH_KEYS_DIR=base / "ssh-keys",
        NUSANTARA_PHP_FPM_POOL_DIR=base / "pools",
        NUSANTARA_PHP_FPM_SOCKET_DIR=base / "sockets",
        NUSANTARA_PHP_FPM_TEST_CMD="true",
        NUSANTARA_PHP_FPM_RELOAD_CMD="true",
    )


def test_a_worker_that_is_not_root_reaches_the_helper_through_sudo(sudo_setup):
    caller, base, tag = sudo_setup["caller"], sudo_setup["base"], sudo_setup["tag"]
    web_root = base / "www"
    env = _settings_env(base, web_root, tag)
    # The helper's config, as root: the fixed path, written by the shipped command.
    wrote = _run(sys.executable, "manage.py", "helper_config", cwd=ROOT, env=env)
    assert wrote.returncode == 0, wrote.stderr
    # A decoy: another root-owned, valid config the caller would like the helper to use.
    decoy = base / "decoy.json"
    decoy_env = _settings_env(base, base / "decoy", tag)
    made = _run(
        sys.executable, "manage.py", "helper_config", "--output", str(decoy), cwd=ROOT,
        env=decoy_env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr

    site_user = "np" + secrets.token_hex(5)
    domain = f"sudo-{tag}.tenancy.example"
    stranger = "np" + secrets.token_hex(5)  # a panel-like name the panel did not create
    # (its home under the test's base: the fixture removes every user whose home is there)
    made = _run(
        "useradd", "-M", "-d", str(base / "stranger"), "-s", "/usr/sbin/nologin", "-c", "someone",
        stranger,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    _pkey, key_line = ed25519_pair()
    calls = [
        ["user-create", [site_user, domain], None],
        ["home-setup", [site_user, domain], None],
        ["keys-write", [site_user], key_line + "\n"],
        ["shell", ["-c", "id"], None],
        ["home-setup", [stranger, domain], None],
        ["password-set", [stranger], "a-password-for-him\n"],
        ["home-setup", [site_user, "../../etc"], None],
    ]
    caller_env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": "/nonexistent",
        "LANG": "C.UTF-8",
        **{k: v for k, v in env.items() if k.startswith("NUSANTARA_")},
        "DJANGO_SETTINGS_MODULE": "nusantara.settings",
        "SECRET_KEY": env["SECRET_KEY"],
        "DEBUG": "True",  # the settings default to production (ALLOWED_HOSTS required)
        "DATABASE_URL": env["DATABASE_URL"],
        "NUSANTARA_DATA_DIR": str(base / "caller-data"),
        "NUSANTARA_ISOLATION": "on",
        "NUSANTARA_HELPER_CMD": f"sudo -n {WRAPPER}",
        "NUSANTARA_HELPER_CONFIG": str(decoy),  # must be ignored
    }
    res = _run(sys.executable, "-c", CALLS, json.dumps(calls), caller, cwd=ROOT, env=caller_env)
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    (created, home, keys, unknown, stranger_home, stranger_pw, traversal) = out

    # What the helper did, as root, on the system.
    assert created == ["ok", f"user {site_user} created"], out
    assert home[0] == "ok", out
    entry = pwd.getpwnam(site_user)
    assert entry.pw_gecos == GECOS_PREFIX + domain
    assert entry.pw_dir == str(web_root / domain)
    assert entry.pw_shell == "/usr/sbin/nologin"
    assert site_user in grp.getgrnam(f"npt{tag}").gr_mem
    nogroup = grp.getgrnam("nogroup").gr_gid
    for rel, owner, mode in (
        ("", (0, 0), 0o755),
        ("public", (entry.pw_uid, nogroup), 0o2750),
        # logs/ belongs to the panel's group: the web reads the logs, no site user can.
        ("logs", (0, grp.getgrnam(settings.NUSANTARA_PANEL_GROUP).gr_gid), 0o750),
        ("tmp", (entry.pw_uid, entry.pw_gid), 0o700),
    ):
        st = (web_root / domain / rel).stat()
        assert ((st.st_uid, st.st_gid), st.st_mode & 0o7777) == (owner, mode), rel
    # The decoy config was not used: nothing under its web root.
    assert not list((base / "decoy").iterdir())
    assert keys == ["ok", f"1 key(s) written for {site_user}"], out
    keys_file = base / "ssh-keys" / site_user
    assert keys_file.read_text() == key_line + "\n"
    assert (keys_file.stat().st_uid, keys_file.stat().st_mode & 0o777) == (
        0,
        0o640,
    )  # root:<site user>: no other site reads it

    # Refusals, with the helper's reason, and nothing done.
    assert unknown == ["refused", "refused: unknown verb 'shell'"], out
    assert stranger_home[0] == "refused" and "was not created by the panel" in stranger_home[1]
    assert stranger_pw[0] == "refused" and "was not created by the panel" in stranger_pw[1]
    assert traversal[0] == "refused" and "not a valid normalised domain" in traversal[1]
    shadow = _run("getent", "shadow", stranger).stdout
    assert shadow.split(":")[1] in ("!", "*", "!*", "!!"), "the stranger got a password"
    assert sorted(p.name for p in web_root.iterdir()) == [domain]

    # The caller itself is no root and may run nothing else through sudo.
    other = _run("runuser", "-u", caller, "--", "sudo", "-n", "/usr/bin/id", env=caller_env)
    assert other.returncode != 0
    # Without sudo the same wrapper runs as the caller, and useradd says no.
    newcomer = "np" + secrets.token_hex(5)
    direct = _run(
        "runuser", "-u", caller, "--", str(WRAPPER), "user-create", newcomer, f"x-{domain}",
        env=caller_env,
    )  # fmt: skip
    assert direct.returncode != 0
    with pytest.raises(KeyError):
        pwd.getpwnam(newcomer)
