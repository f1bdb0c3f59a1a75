"""The root helper: every step that needs root (a site's system user, its home, its php-fpm
pool) behind a CLOSED list of verbs, each argument checked against an allowlist grammar.

It imports nothing of Django, so that it can run under sudo with a minimal environment:

    python -m panel.tenancy.helper <verb> [args...]     (bin/nusantara-helper; secrets on stdin)

As a program it reads its configuration from a root-owned JSON file (/etc/nusantara/helper.json,
written by `manage.py helper_config`; only root may point elsewhere with NUSANTARA_HELPER_CONFIG).
In-process callers (panel.tenancy.rootcmd, when the worker itself is root) pass the same dict
built from Django settings. Adding a verb: write `def _verb(cfg, <validated args>[, stdin])`,
give each argument a type from ARG_TYPES (add a validator there if none fits) and list it in
VERBS. Nothing outside VERBS is callable.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import importlib.util
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_PATH = "/etc/nusantara/helper.json"
GECOS_PREFIX = "nusantara-panel site "
HOME_MARKER = ".nusantara-home"
NOLOGIN = "/usr/sbin/nologin"
PROBE_PREFIX = "np-probe-"


class HelperError(Exception):
    """A refused or failed verb; the message says what and why, for the job's error."""


# --- argument grammars ------------------------------------------------------------------------

USER_RE = re.compile(r"^np[0-9a-f]{10}$")
# A domain as the panel stores it (lower case, IDNA, no trailing dot): usable as one path
# component, never "." or "..", nothing a config file could misread.
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
RUNTIME_RE = re.compile(r"^(?:static|php)$")
NONCE_RE = re.compile(r"^[0-9a-f]{32}$")
# A browser upload staged by the web process: <uploads dir>/<job id>/(upload.zip | files).
STAGED_RE = re.compile(
    r"^/(?:[A-Za-z0-9._+@-]+/)+[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"/(?:upload\.zip|files)$"
)
# For the next verbs (unpack): a relative path of plain names inside the site's home.
UPLOAD_RE = re.compile(
    r"^(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._-]{1,128}(?:/[A-Za-z0-9._-]{1,128}){0,8}$"
)
# Configuration values that end up in pool files and command lines.
_PATH_RE = re.compile(r"^/(?:[A-Za-z0-9._+@-]+/?)*$")
_GROUP_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_SIZE_RE = re.compile(r"^[1-9][0-9]{0,8}[KMG]?$")


def _grammar(pattern: re.Pattern[str], what: str, max_len: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not isinstance(value, str) or len(value) > max_len or not pattern.fullmatch(value):
            shown = value[:40] if isinstance(value, str) else type(value).__name__
            raise HelperError(f"refused: {shown!r} is not a valid {what}")
        return value

    return check


ARG_TYPES: dict[str, Callable[[str], str]] = {
    "user": _grammar(USER_RE, "site user name (np + 10 hex digits)", 12),
    "domain": _grammar(DOMAIN_RE, "normalised domain", 253),
    "runtime": _grammar(RUNTIME_RE, "runtime with a default page (static, php)", 6),
    "nonce": _grammar(NONCE_RE, "probe nonce (32 hex digits)", 32),
    "upload": _grammar(UPLOAD_RE, "upload path inside the site's home", 1200),
    "staged": _grammar(STAGED_RE, "staged upload (<uploads>/<job id>/upload.zip|files)", 1200),
}


# --- configuration ----------------------------------------------------------------------------

CONFIG_KEYS = {
    "web_root": "path",
    "nginx_group": "group",
    "sftp_group": "group",
    "pool_dir": "path",
    "socket_dir": "path",
    "keys_dir": "path",
    "fpm_test_cmd": "command",
    "fpm_reload_cmd": "command",
    "php_max_children": "int",
    "php_idle_timeout": "int",
    "php_request_timeout": "int",
    "php_memory_limit": "size",
    "php_max_execution_time": "int",
    "php_upload_max_filesize": "size",
    "php_post_max_size": "size",
    # Uploads (verb unpack) and logs (home-setup: logs/ belongs to root and the panel's group).
    "uploads_dir": "path",
    "panel_group": "group",
    "upload_max_entries": "int",
    "upload_max_unpacked": "bytes",
}


def check_config(raw: dict[str, Any]) -> dict[str, Any]:
    """The config with every value checked; a bad value is an error, never a guess."""
    if not isinstance(raw, dict):
        raise HelperError("the helper configuration must be a JSON object")
    missing = sorted(set(CONFIG_KEYS) - set(raw))
    if missing:
        raise HelperError(f"the helper configuration lacks {', '.join(missing)}")
    cfg: dict[str, Any] = {}
    for key, kind in CONFIG_KEYS.items():
        value = raw[key]
        ok = False
        if kind == "path":
            ok = isinstance(value, str) and bool(_PATH_RE.fullmatch(value)) and ".." not in value
            value = value.rstrip("/") or "/" if ok else value
        elif kind == "group":
            ok = isinstance(value, str) and bool(_GROUP_RE.fullmatch(value))
        elif kind == "command":
            ok = isinstance(value, str) and "\n" not in value and len(value) < 1000
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 100_000
        elif kind == "size":
            ok = isinstance(value, str) and bool(_SIZE_RE.fullmatch(value))
        elif kind == "bytes":
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**50
        if not ok:
            raise HelperError(f"the helper configuration has a bad {key}: {str(value)[:60]!r}")
        cfg[key] = value
    if cfg["web_root"] == "/":
        raise HelperError("the helper configuration's web_root cannot be /")
    return cfg


def load_config() -> dict[str, Any]:
    path = CONFIG_PATH
    override = os.environ.get("NUSANTARA_HELPER_CONFIG")
    # Under sudo the real uid is 0 too: what keeps the caller from choosing is sudo's env_reset
    # and the wrapper's `env -i` (tests/tenancy/test_helper_sudo.py checks both hold).
    if override and os.getuid() == 0:
        path = override
    try:
        with open(path, encoding="utf-8") as fh:
            st = os.fstat(fh.fileno())
            if st.st_uid != 0 or st.st_mode & 0o022:
                raise HelperError(f"{path} must belong to root and be writable only by root")
            raw = json.load(fh)
    except OSError as exc:
        raise HelperError(f"cannot read the helper configuration {path}: {exc.strerror}")
    except ValueError as exc:
        raise HelperError(f"the helper configuration {path} is not valid JSON: {exc}")
    return check_config(raw)


# --- small tools ------------------------------------------------------------------------------


def _run(argv: list[str], stdin: str | None = None) -> tuple[bool, str]:
    if not argv:
        return True, ""
    try:
        res = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{argv[0]}: {exc}"
    return res.returncode == 0, (res.stderr + res.stdout).strip()[-2000:]


def _must(argv: list[str], what: str) -> None:
    ok, out = _run(argv)
    if not ok:
        raise HelperError(f"{what} failed: {out}")


def home_of(cfg: dict[str, Any], domain: str) -> Path:
    return Path(cfg["web_root"]) / domain


def _gid(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise HelperError(f"the group {name} does not exist")


def _panel_user(cfg: dict[str, Any], user: str, domain: str) -> pwd.struct_passwd | None:
    """The site user if it exists and is the panel's user for this domain; None if it does not
    exist; a refusal for anyone else (root, nobody, a person's account, another site's user)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    if (
        not USER_RE.fullmatch(entry.pw_name)
        or entry.pw_gecos != GECOS_PREFIX + domain
        or entry.pw_dir != str(home_of(cfg, domain))
        or entry.pw_uid == 0
    ):
        raise HelperError(
            f"refused: the system user {user} was not created by the panel for {domain}"
        )
    return entry


def _require_user(cfg: dict[str, Any], user: str, domain: str) -> pwd.struct_passwd:
    entry = _panel_user(cfg, user, domain)
    if entry is None:
        raise HelperError(f"the system user {user} does not exist (run user-create first)")
    return entry


@contextlib.contextmanager
def _dirfd(path: str | Path, dir_fd: int | None = None) -> Iterator[int]:
    """Open a directory without following a symbolic link at its last component."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise HelperError(f"refused: {path} is a symbolic link or not a directory")
        raise HelperError(f"cannot open {path}: {exc.strerror}")
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _web_root(cfg: dict[str, Any]) -> Iterator[int]:
    root = cfg["web_root"]
    if os.path.realpath(root) != root:
        raise HelperError(f"refused: the web root {root} goes through a symbolic link")
    with _dirfd(root) as fd:
        yield fd


def _ensure_dir(parent: int, name: str, uid: int, gid: int, mode: int) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=parent)
    with _dirfd(name, parent) as fd:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)


def _write_file(parent: int, name: str, content: str, uid: int, gid: int, mode: int) -> None:
    """Write a file atomically inside a directory fd (never through a link)."""
    tmp = f".{name}.np-tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=parent)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=parent)
    try:
        os.write(fd, content.encode())
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)


def _exists(parent: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


# --- verbs: system users ----------------------------------------------------------------------


def user_create(cfg: dict[str, Any], user: str, domain: str) -> str:
    if _panel_user(cfg, user, domain) is not None:
        return f"user {user} exists"
    sftp = cfg["sftp_group"]
    try:
        grp.getgrnam(sftp)
    except KeyError:
        _must(["groupadd", "--system", sftp], f"groupadd {sftp}")
    _must(
        [
            "useradd", "-M", "-U", "-d", str(home_of(cfg, domain)), "-s", NOLOGIN,
            "-G", sftp, "-c", GECOS_PREFIX + domain, user,
        ],
        f"useradd {user}",
    )  # fmt: skip
    return f"user {user} created"


SHARED_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")  # noqa: S108 - cleaned, never written


def _end_processes(uid: int) -> int:
    """SIGKILL every process with `uid` as its real, effective or saved uid, until none is left
    (a process may fork while we look). Linux hands a freed uid to the next new user: a process
    left running would act as, and on the files of, the next site."""
    killed = 0
    for _round in range(50):
        found = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as fh:
                    uids = next((ln.split()[1:4] for ln in fh if ln.startswith("Uid:")), [])
            except OSError:
                continue  # gone meanwhile
            if str(uid) in uids:
                found += 1
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
        killed += found
        if not found:
            return killed
        time.sleep(0.05)
    raise HelperError(f"processes of uid {uid} keep appearing; the user was not deleted")


def _remove_shared_tmp(uid: int) -> None:
    """What the user left in the shared temporary dirs (the next user with its uid would own
    it); links are removed, never followed."""
    for base in SHARED_TMP_DIRS:
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_uid != uid:
                continue
            with contextlib.suppress(OSError):
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(entry.path)  # fd-based on Linux: never follows a link
                else:
                    os.unlink(entry.path)


def user_delete(cfg: dict[str, Any], user: str, domain: str) -> str:
    entry = _panel_user(cfg, user, domain)
    if entry is None:
        return f"user {user} does not exist"
    killed = _end_processes(entry.pw_uid)
    _remove_shared_tmp(entry.pw_uid)
    # -f: php-fpm may still be finishing the last request of the pool just removed.
    _must(["userdel", "-f", user], f"userdel {user}")
    return f"user {user} deleted ({killed} process(es) ended)"


# --- verbs: the site's home -------------------------------------------------------------------


def home_setup(cfg: dict[str, Any], user: str, domain: str) -> str:
    """<home> root:root 0755 (the SFTP chroot) with public/ (user:nginx 2750), logs/ (root:panel
    group 0750: nginx's master writes there, the panel's web process reads, no site user can;
    docs/operations.md "Site logs") and tmp/ (user 0700)."""
    entry = _require_user(cfg, user, domain)
    uid, gid, nginx_gid = entry.pw_uid, entry.pw_gid, _gid(cfg["nginx_group"])
    with _web_root(cfg) as root:
        _ensure_dir(root, domain, 0, 0, 0o755)
        with _dirfd(domain, root) as home:
            if not _exists(home, HOME_MARKER):
                _write_file(home, HOME_MARKER, f"{domain}\n", 0, 0, 0o644)
            _ensure_dir(home, "public", uid, nginx_gid, 0o2750)
            _ensure_dir(home, "logs", 0, _gid(cfg["panel_group"]), 0o750)
            _ensure_dir(home, "tmp", uid, gid, 0o700)
    return f"home {home_of(cfg, domain)} ready"


def home_remove(cfg: dict[str, Any], user: str, domain: str) -> str:
    _panel_user(cfg, user, domain)  # refuses another account's name; a gone user is fine
    with _web_root(cfg) as root:
        try:
            st = os.stat(domain, dir_fd=root, follow_symlinks=False)
        except FileNotFoundError:
            return "home already removed"
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise HelperError(
                f"refused: {home_of(cfg, domain)} is a symbolic link or not a directory"
            )
    # rmtree works on directory fds here (shutil.rmtree.avoids_symlink_attacks): a link inside
    # the home is removed, never followed.
    assert shutil.rmtree.avoids_symlink_attacks
    shutil.rmtree(home_of(cfg, domain))
    return f"home {home_of(cfg, domain)} removed"


def home_adopt(cfg: dict[str, Any], user: str, domain: str) -> str:
    """Turn an old-style site directory (files directly in <web root>/<domain>) into a home
    with the files in public/, by three renames that can be resumed after an interruption:
    1. <domain> -> .np-adopt-<domain>   2. new <domain>/ with its marker   3. -> <domain>/public."""
    _require_user(cfg, user, domain)
    staging = f".np-adopt-{domain}"
    with _web_root(cfg) as root:
        has_home, has_staging = _exists(root, domain), _exists(root, staging)
        if has_home:
            with _dirfd(domain, root) as home:
                marked = _exists(home, HOME_MARKER)
        else:
            marked = False
        if marked and not has_staging:
            return "home already adopted"
        if not has_staging:
            if not has_home:
                os.mkdir(domain, 0o755, dir_fd=root)  # nothing to adopt: an empty site
                with _dirfd(domain, root):
                    pass
            os.rename(domain, staging, src_dir_fd=root, dst_dir_fd=root)
            has_home = False
        with _dirfd(staging, root):
            pass  # refuses a link
        if not has_home:
            os.mkdir(domain, 0o755, dir_fd=root)
        with _dirfd(domain, root) as home:
            os.fchown(home, 0, 0)
            os.fchmod(home, 0o755)
            if _exists(home, "public"):
                raise HelperError(f"refused: {home_of(cfg, domain)}/public exists beside {staging}")
            _write_file(home, HOME_MARKER, f"{domain}\n", 0, 0, 0o644)
            os.rename(staging, "public", src_dir_fd=root, dst_dir_fd=home)
    return f"files of {domain} moved into {home_of(cfg, domain)}/public"


PROTECTED_HARDLINKS = "/proc/sys/fs/protected_hardlinks"


def _require_protected_hardlinks() -> None:
    """A customer could hard-link a file of root's (or another site's) into its own tree, and a
    chown by root would then hand it over: the kernel's fs.protected_hardlinks=1 (Debian's
    default) forbids such links. Refuse to work on customers' trees without it."""
    try:
        with open(PROTECTED_HARDLINKS, encoding="ascii") as fh:
            value = fh.read().strip()
    except OSError:
        value = ""
    if value != "1":
        raise HelperError(
            "refused: set the kernel's fs.protected_hardlinks=1 (sysctl) before the panel "
            "changes owners or unpacks files in customers' directories"
        )


def fix_ownership(cfg: dict[str, Any], user: str, domain: str) -> str:
    """chown -R public/ to the site user (group: nginx's), never following a link."""
    _require_protected_hardlinks()
    entry = _require_user(cfg, user, domain)
    uid, nginx_gid = entry.pw_uid, _gid(cfg["nginx_group"])
    count = 0
    with _web_root(cfg) as root, _dirfd(domain, root) as home, _dirfd("public", home) as public:
        os.fchown(public, uid, nginx_gid)
        for _dir, dirs, files, dfd in os.fwalk(".", dir_fd=public, follow_symlinks=False):
            for name in dirs + files:
                os.chown(name, uid, nginx_gid, dir_fd=dfd, follow_symlinks=False)
                count += 1
    return f"{count} file(s) in public/ now belong to {user}"


INDEX_PAGES = {
    "static": (
        "index.html",
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>{domain}</title></head>\n'
        "<body><h1>{domain}</h1><p>Hosted by Nusantara Panel. Upload your site to replace "
        "this page.</p></body></html>\n",
    ),
    "php": (
        "index.php",
        "<?php\n// Default page of {domain}: upload your application to replace it.\n"
        'echo "<h1>{domain}</h1><p>PHP " . PHP_MAJOR_VERSION . " works: 6 * 7 = " . (6 * 7) '
        '. "</p>";\n',
    ),
}
_INDEX_NAMES = ("index.html", "index.htm", "index.php")


def default_page(cfg: dict[str, Any], user: str, domain: str, runtime: str) -> str:
    """The default index page, owned by the site user, unless the site already has one."""
    entry = _require_user(cfg, user, domain)
    name, body = INDEX_PAGES[runtime]
    with _web_root(cfg) as root, _dirfd(domain, root) as home, _dirfd("public", home) as public:
        if any(_exists(public, n) for n in _INDEX_NAMES):
            return "the site has its own index page"
        _write_file(
            public, name, body.format(domain=domain), entry.pw_uid, _gid(cfg["nginx_group"]), 0o640
        )
    return f"default {name} written"


PROBES = {
    "static": ("txt", "{nonce}\n"),
    # Prints who PHP runs as, for the proof before `active` (panel.tenancy.probe).
    "php": (
        "php",
        "<?php\n$u = function_exists('posix_geteuid') ? posix_getpwuid(posix_geteuid())['name']"
        " : get_current_user();\necho '{nonce} ' . $u . \"\\n\";\n",
    ),
}


def probe_create(cfg: dict[str, Any], user: str, domain: str, runtime: str, nonce: str) -> str:
    entry = _require_user(cfg, user, domain)
    ext, body = PROBES[runtime]
    name = f"{PROBE_PREFIX}{nonce}.{ext}"
    with _web_root(cfg) as root, _dirfd(domain, root) as home, _dirfd("public", home) as public:
        _write_file(
            public, name, body.format(nonce=nonce), entry.pw_uid, _gid(cfg["nginx_group"]), 0o640
        )
    return name


def probe_remove(cfg: dict[str, Any], user: str, domain: str, nonce: str) -> str:
    _panel_user(cfg, user, domain)
    with (
        contextlib.suppress(HelperError),
        _web_root(cfg) as root,
        _dirfd(domain, root) as home,
        _dirfd("public", home) as public,
    ):
        for ext, _body in PROBES.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{PROBE_PREFIX}{nonce}.{ext}", dir_fd=public)
    return "probe removed"


# --- verbs: php-fpm pools ---------------------------------------------------------------------

POOL_TEMPLATE = """\
; Managed by Nusantara Panel: the php-fpm pool of {domain}. Rewritten by the panel.
[{user}]
user = {user}
group = {user}
listen = {socket}
; nginx reaches the socket through its group; no other site user is in it.
listen.owner = {user}
listen.group = {nginx_group}
listen.mode = 0660
pm = ondemand
pm.max_children = {max_children}
pm.process_idle_timeout = {idle_timeout}s
pm.max_requests = 500
request_terminate_timeout = {request_timeout}s
chdir = {home}/public
security.limit_extensions = .php
catch_workers_output = no
clear_env = yes
php_admin_value[open_basedir] = {home}/public:{home}/tmp
php_admin_value[upload_tmp_dir] = {home}/tmp
php_admin_value[session.save_path] = {home}/tmp
php_admin_value[sys_temp_dir] = {home}/tmp
php_admin_value[memory_limit] = {memory_limit}
php_admin_value[max_execution_time] = {max_execution_time}
php_admin_value[upload_max_filesize] = {upload_max_filesize}
php_admin_value[post_max_size] = {post_max_size}
php_admin_flag[expose_php] = off
"""


def socket_path(cfg: dict[str, Any], user: str) -> str:
    return f"{cfg['socket_dir']}/{user}.sock"


def render_pool(cfg: dict[str, Any], user: str, domain: str) -> str:
    return POOL_TEMPLATE.format(
        domain=domain,
        user=user,
        socket=socket_path(cfg, user),
        nginx_group=cfg["nginx_group"],
        home=home_of(cfg, domain),
        max_children=cfg["php_max_children"],
        idle_timeout=cfg["php_idle_timeout"],
        request_timeout=cfg["php_request_timeout"],
        memory_limit=cfg["php_memory_limit"],
        max_execution_time=cfg["php_max_execution_time"],
        upload_max_filesize=cfg["php_upload_max_filesize"],
        post_max_size=cfg["php_post_max_size"],
    )


@dataclass
class _PoolTx:
    """A php-fpm change as a transaction, like nginx's (panel/sites/nginx.py): lock, journal
    the previous files, write, `php-fpm -t`, roll back what php-fpm refuses, reload once."""

    cfg: dict[str, Any]

    @property
    def dir(self) -> Path:
        return Path(self.cfg["pool_dir"])

    @property
    def journal(self) -> Path:
        return self.dir / ".nusantara-journal"

    def path(self, domain: str) -> Path:
        return self.dir / f"{domain}.conf"

    def test(self) -> tuple[bool, str]:
        return _run(shlex.split(self.cfg["fpm_test_cmd"]))

    def restore(self, domain: str, existed: bool) -> None:
        if existed:
            shutil.copy2(self.journal / f"{domain}.conf", self.path(domain))
        else:
            self.path(domain).unlink(missing_ok=True)

    def recover(self) -> None:
        manifest = self.journal / "manifest.json"
        if manifest.exists():
            for domain, existed in json.loads(manifest.read_text()).items():
                if DOMAIN_RE.fullmatch(domain):
                    self.restore(domain, bool(existed))
        shutil.rmtree(self.journal, ignore_errors=True)

    def write(self, domain: str, user: str | None) -> None:
        if user is None:
            self.path(domain).unlink(missing_ok=True)
            return
        tmp = self.dir / f".{domain}.conf.tmp"
        tmp.write_text(render_pool(self.cfg, user, domain))
        tmp.chmod(0o644)
        os.replace(tmp, self.path(domain))

    def apply(self, changes: dict[str, str | None]) -> dict[str, Any]:
        result: dict[str, Any] = {"applied": [], "rejected": {}, "reloaded": False}
        if not changes:
            return result
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.dir / ".nusantara.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.recover()
            ok, message = self.test()
            if not ok:
                why = f"php-fpm's configuration is already broken, so no change was made: {message}"
                result["rejected"] = dict.fromkeys(changes, why)
                return result
            self.journal.mkdir()
            existed = {}
            for domain in changes:
                existed[domain] = self.path(domain).is_file()
                if existed[domain]:
                    shutil.copy2(self.path(domain), self.journal / f"{domain}.conf")
            (self.journal / "manifest.json").write_text(json.dumps(existed))
            for domain, user in changes.items():
                self.write(domain, user)
            pending = list(changes)
            ok, message = self.test()
            if not ok:  # find the refused ones one by one, starting from the good state
                for domain in pending:
                    self.restore(domain, existed[domain])
                accepted = []
                for domain in pending:
                    self.write(domain, changes[domain])
                    ok, message = self.test()
                    if ok:
                        accepted.append(domain)
                    else:
                        self.restore(domain, existed[domain])
                        result["rejected"][domain] = f"php-fpm refused the pool: {message}"
                pending = accepted
            reload = shlex.split(self.cfg["fpm_reload_cmd"])
            if pending and reload:
                ok, message = _run(reload)
                if not ok:
                    for domain in pending:
                        self.restore(domain, existed[domain])
                        result["rejected"][domain] = f"php-fpm could not reload: {message}"
                    pending = []
                else:
                    result["reloaded"] = True
            shutil.rmtree(self.journal, ignore_errors=True)
            result["applied"] = pending
            return result
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)


def _pool_result(result: dict[str, Any], domain: str) -> str:
    if domain in result["rejected"]:
        raise HelperError(result["rejected"][domain])
    return "reloaded" if result["reloaded"] else "written"


def pool_write(cfg: dict[str, Any], user: str, domain: str) -> str:
    _require_user(cfg, user, domain)
    return _pool_result(_PoolTx(cfg).apply({domain: user}), domain)


def pool_remove(cfg: dict[str, Any], domain: str) -> str:
    return _pool_result(_PoolTx(cfg).apply({domain: None}), domain)


def pool_apply(cfg: dict[str, Any], stdin: str) -> str:
    """A batch: stdin is a JSON object {domain: site user, or null to remove}; prints the
    result as JSON ({"applied": [...], "rejected": {domain: message}, "reloaded": bool})."""
    try:
        raw = json.loads(stdin or "")
    except (ValueError, RecursionError):
        raise HelperError("refused: pool-apply wants a JSON object on stdin")
    if not isinstance(raw, dict) or len(raw) > 5000:
        raise HelperError("refused: pool-apply wants a JSON object of at most 5000 pools")
    changes: dict[str, str | None] = {}
    for domain, user in raw.items():
        ARG_TYPES["domain"](domain)
        if user is not None:
            _require_user(cfg, ARG_TYPES["user"](user), domain)
        changes[domain] = user
    return json.dumps(_PoolTx(cfg).apply(changes))


def fpm_test(cfg: dict[str, Any]) -> str:
    ok, message = _run(shlex.split(cfg["fpm_test_cmd"]))
    if not ok:
        raise HelperError(f"php-fpm -t failed: {message}")
    return message or "php-fpm configuration ok"


def fpm_reload(cfg: dict[str, Any]) -> str:
    ok, message = _run(shlex.split(cfg["fpm_reload_cmd"]))
    if not ok:
        raise HelperError(f"php-fpm could not reload: {message}")
    return "php-fpm reloaded"


# --- verbs: SFTP ------------------------------------------------------------------------------


def _sftp_user(cfg: dict[str, Any], user: str) -> pwd.struct_passwd | None:
    """The site user if it exists and the panel made it (GECOS marker, home in the web root,
    member of the SFTP group); None if it does not exist; a refusal for anyone else."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    try:
        members = grp.getgrnam(cfg["sftp_group"]).gr_mem
    except KeyError:
        raise HelperError(f"the group {cfg['sftp_group']} does not exist")
    if (
        entry.pw_uid == 0
        or not entry.pw_gecos.startswith(GECOS_PREFIX)
        or Path(entry.pw_dir).parent != Path(cfg["web_root"])
        or user not in members
    ):
        raise HelperError(f"refused: the system user {user} was not created by the panel")
    return entry


def _keys_dir(cfg: dict[str, Any]) -> Path:
    """The keys dir, created root:root 0711 (sshd refuses a key file whose path anyone but root
    could change); its parents must already be root's. 0711: a site user reaches its own file by
    name and cannot list which other site users exist."""
    path = Path(cfg["keys_dir"])
    if os.path.realpath(path) != str(path):
        raise HelperError(f"refused: the keys dir {path} goes through a symbolic link")
    path.mkdir(mode=0o711, parents=True, exist_ok=True)
    for part in (path, *path.parents):
        st = os.stat(part, follow_symlinks=False)
        if st.st_uid != 0 or st.st_mode & 0o022:
            raise HelperError(f"refused: {part} must belong to root and be writable only by root")
    # sshd reads a key file as the user logging in: the dir must be traversable by all.
    os.chmod(path, 0o711)  # noqa: S103
    return path


# Companion modules (panel/tenancy/sshkeys.py, unpack.py: standard library only). As a program
# (sudo, `python3 -I`, no package on the path) each is the root-owned copy beside this file:
# installed as nusantara_<name>.py next to nusantara_helper.py, or <name>.py in a checkout.
COMPANIONS = ("sshkeys", "unpack")


def _companion(name: str) -> Any:
    if name not in COMPANIONS:
        raise HelperError(f"refused: {name} is not a companion module")
    try:
        return importlib.import_module(f"panel.tenancy.{name}")
    except ImportError:
        pass
    here = Path(os.path.realpath(__file__)).parent
    for filename in (f"nusantara_{name}.py", f"{name}.py"):
        path = here / filename
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
            raise HelperError(f"refused: {path} must be a file of root's, writable only by root")
        spec = importlib.util.spec_from_file_location(f"nusantara_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    raise HelperError(f"{name}.py is missing: install it as {here}/nusantara_{name}.py")


def keys_write(cfg: dict[str, Any], user: str, stdin: str) -> str:
    """Write <keys dir>/<user> (root:<user's group> 0640, atomically) with the keys on stdin, each
    parsed again; no key removes the file. The user may already be gone when the input is empty.
    sshd opens the file as the user logging in; no other site user (a PHP script) can read it."""
    sshkeys = _companion("sshkeys")

    try:
        keys = sshkeys.authorized_keys(stdin)
    except sshkeys.KeyRefused as exc:
        raise HelperError(f"refused: a key for {user} is not acceptable: {exc}")
    entry = _sftp_user(cfg, user)
    if entry is None and keys:
        raise HelperError(f"the system user {user} does not exist")
    with _dirfd(_keys_dir(cfg)) as fd:
        if not keys:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(user, dir_fd=fd)
            return f"no key for {user}: file removed"
        assert entry is not None
        _write_file(fd, user, "".join(f"{k.line}\n" for k in keys), 0, entry.pw_gid, 0o640)
    return f"{len(keys)} key(s) written for {user}"


MAX_PASSWORD = 128


def password_set(cfg: dict[str, Any], user: str, stdin: str) -> str:
    """chpasswd for a panel-made site user; the password comes on stdin, never as an arg."""
    if _sftp_user(cfg, user) is None:
        raise HelperError(f"the system user {user} does not exist")
    password = stdin[:-1] if stdin.endswith("\n") else stdin
    if not password or len(password) > MAX_PASSWORD:
        raise HelperError(f"refused: the password must have 1 to {MAX_PASSWORD} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise HelperError("refused: the password contains a line break or control character")
    ok, out = _run(["chpasswd"], stdin=f"{user}:{password}\n")
    if not ok:
        raise HelperError(f"chpasswd failed: {out}")
    return f"password set for {user}"


def password_clear(cfg: dict[str, Any], user: str) -> str:
    """No password login any more: the hash becomes "!" (keys still work with UsePAM)."""
    if _sftp_user(cfg, user) is None:
        return f"{user} does not exist: nothing to clear"
    ok, out = _run(["usermod", "-p", "!", user])
    if not ok:
        raise HelperError(f"usermod failed: {out}")
    return f"password removed for {user}"


# --- verbs: browser uploads -------------------------------------------------------------------


def _open_staged(cfg: dict[str, Any], staged: str) -> tuple[int | None, list[tuple[str, int]]]:
    """As root, open the staged upload (the panel's own files, 0600) without following links:
    (zip fd, []) or (None, [(name, fd), ...])."""
    uploads = cfg["uploads_dir"]
    if os.path.dirname(os.path.dirname(staged)) != uploads:
        raise HelperError(f"refused: {staged} is not inside {uploads}")
    if os.path.realpath(staged) != staged:
        raise HelperError(f"refused: {staged} goes through a symbolic link")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    if staged.endswith(".zip"):
        fd = os.open(staged, flags)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise HelperError(f"refused: {staged} is not a regular file")
        return fd, []
    files: list[tuple[str, int]] = []
    with _dirfd(staged) as dfd:
        for name in sorted(os.listdir(dfd)):
            fd = os.open(name, flags, dir_fd=dfd)
            files.append((name, fd))
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                for _name, opened in files:
                    os.close(opened)
                raise HelperError(f"refused: {staged}/{name[:60]} is not a regular file")
    return None, files


def unpack_upload(
    cfg: dict[str, Any], user: str, domain: str, staged: str, subdir: str = ""
) -> str:
    """Install a staged browser upload into public/[subdir] AS THE SITE USER: root only opens
    the staged files; a child process drops to the site user (no supplementary groups) and
    does everything else (panel.tenancy.unpack: checks, staging in tmp/, all or nothing).
    Prints JSON: {"ok": true, "files", "dirs", "bytes"} or {"ok": false, "code", "name"}."""
    unpack = _companion("unpack")  # no Django either

    _require_protected_hardlinks()
    entry = _require_user(cfg, user, domain)
    limits = unpack.Limits(cfg["upload_max_entries"], cfg["upload_max_unpacked"])
    home = home_of(cfg, domain)
    archive_fd, files = _open_staged(cfg, staged)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            os.umask(0o022)
            try:
                summary = unpack.install(
                    public=home / "public",
                    tmp=home / "tmp",
                    subdir=subdir,
                    archive=os.fdopen(archive_fd, "rb") if archive_fd is not None else None,
                    files=[(name, os.fdopen(fd, "rb")) for name, fd in files],
                    limits=limits,
                )
                result: dict[str, Any] = {"ok": True, **summary.__dict__}
            except unpack.UnpackError as exc:
                result = {"ok": False, "code": exc.code, "name": exc.name}
            os.write(write, json.dumps(result).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, then exit
            with contextlib.suppress(BaseException):
                os.write(write, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        finally:
            os._exit(code)
    os.close(write)
    for fd in [archive_fd, *(fd for _name, fd in files)]:
        if fd is not None:
            os.close(fd)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    try:
        result = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        result = {}
    if "ok" not in result:
        raise HelperError(f"unpack as {user} failed: {result.get('error', 'no result')}")
    return json.dumps(result)


# --- verbs: disk use -------------------------------------------------------------------------

# What `du -sx` counts, without its blind spots for a customer's tree: allocated 512-byte blocks
# (st_blocks * 512, so sparse files count what they take on disk), every inode once (hard
# links), symbolic links counted as themselves and never followed, nothing on another
# filesystem (a mount inside a home is skipped, not descended into). A file or directory that
# vanishes during the walk is simply not counted; anything else that cannot be read, a walk
# longer than its time cap or a tree nested deeper than USAGE_MAX_DEPTH gives no number at all.
USAGE_MAX_DEPTH = 256  # one open directory fd per level: stays far below RLIMIT_NOFILE
USAGE_MAX_DOMAINS = 1000
USAGE_MAX_SECONDS = 3600
_VANISHED = (errno.ENOENT, errno.ESTALE)


class _UsageStopped(Exception):
    """The walk of one home stopped; the message says why (nothing is claimed for it)."""


def _walk_usage(top: int, deadline: float) -> tuple[int, int]:
    """(allocated bytes, entries) of the tree under the directory fd `top` (not closed here)."""
    st = os.fstat(top)
    dev, total, count = st.st_dev, st.st_blocks * 512, 1
    seen: set[int] = set()  # inodes with more than one link, counted once
    first = os.dup(top)
    try:
        stack: list[tuple[int, Any]] = [(first, os.scandir(first))]  # (dir fd, its scandir)
    except BaseException:
        os.close(first)
        raise
    try:
        while stack:
            parent, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                entries.close()
                os.close(parent)
                continue
            if time.monotonic() > deadline:
                raise _UsageStopped("took longer than its time limit")
            try:
                est = entry.stat(follow_symlinks=False)
            except OSError as exc:
                if exc.errno in _VANISHED:
                    continue
                raise
            if est.st_dev != dev:
                continue  # a mount point: another filesystem
            is_dir = stat.S_ISDIR(est.st_mode)
            if not is_dir and est.st_nlink > 1:
                if est.st_ino in seen:
                    continue
                seen.add(est.st_ino)
            total += est.st_blocks * 512
            count += 1
            if not is_dir:
                continue
            if len(stack) >= USAGE_MAX_DEPTH:
                raise _UsageStopped(f"nested deeper than {USAGE_MAX_DEPTH} directories")
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                child = os.open(entry.name, flags, dir_fd=parent)
            except OSError as exc:
                # Gone, or swapped for a link or a file since the stat: not ours to count.
                if exc.errno in (*_VANISHED, errno.ELOOP, errno.ENOTDIR):
                    continue
                raise
            if os.fstat(child).st_dev != dev:
                os.close(child)
                continue
            try:
                stack.append((child, os.scandir(child)))
            except BaseException:
                os.close(child)
                raise
    finally:
        for fd, entries in stack:
            entries.close()
            os.close(fd)
    return total, count


def measure_homes(web_root: int, domains: list[str], seconds: int, budget: int) -> dict[str, Any]:
    """Each home's usage: {"bytes", "entries"} | {"missing": true} | {"error": why}. Starts no
    new home once `budget` seconds have passed; those are left out (the caller asks again)."""
    start = time.monotonic()
    results: dict[str, Any] = {}
    for domain in domains:
        began = time.monotonic()
        if results and began - start > budget:
            break  # the first home is always measured: every call makes progress
        try:
            with _dirfd(domain, web_root) as home:
                size, entries = _walk_usage(home, began + seconds)
            results[domain] = {"bytes": size, "entries": entries}
        except HelperError as exc:
            try:
                os.stat(domain, dir_fd=web_root, follow_symlinks=False)
            except FileNotFoundError:
                results[domain] = {"missing": True}
                continue
            results[domain] = {"error": str(exc)}
        except _UsageStopped as exc:
            results[domain] = {"error": f"measuring {domain} stopped: {exc} ({seconds} s)"}
        except OSError as exc:
            results[domain] = {"error": f"measuring {domain} failed: {exc.strerror}"}
    return results


def _usage_request(stdin: str) -> tuple[list[str], int, int]:
    """stdin: {"domains": [domain, ...], "seconds": cap per home, "budget": seconds}."""
    try:
        raw = json.loads(stdin or "")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise HelperError("refused: home-usage wants a JSON object on stdin")
    if not isinstance(raw, dict) or set(raw) != {"domains", "seconds", "budget"}:
        raise HelperError("refused: home-usage wants exactly domains, seconds and budget")
    domains, seconds, budget = raw["domains"], raw["seconds"], raw["budget"]
    if not isinstance(domains, list) or not 0 < len(domains) <= USAGE_MAX_DOMAINS:
        raise HelperError(f"refused: home-usage wants 1 to {USAGE_MAX_DOMAINS} domains")
    for value in (seconds, budget):
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not 0 < value <= USAGE_MAX_SECONDS
        ):
            raise HelperError(
                f"refused: seconds and budget must be whole numbers from 1 to {USAGE_MAX_SECONDS}"
            )
    checked = [ARG_TYPES["domain"](domain) for domain in domains]
    if len(set(checked)) != len(checked):
        raise HelperError("refused: home-usage got a domain twice")
    return checked, seconds, budget


def home_usage(cfg: dict[str, Any], stdin: str) -> str:
    """Read-only: the disk use of site homes under the web root (as root, so that every file
    of every site user counts). Prints {"results": {domain: ...}} (measure_homes)."""
    domains, seconds, budget = _usage_request(stdin)
    with _web_root(cfg) as root:
        return json.dumps({"results": measure_homes(root, domains, seconds, budget)})


# --- the closed list --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verb:
    func: Callable[..., str]
    args: tuple[str, ...]  # keys of ARG_TYPES, in order
    stdin: bool = False  # the verb reads its last input (a secret, a batch) from stdin
    optional: tuple[str, ...] = ()  # trailing arguments that may be left out


VERBS: dict[str, Verb] = {
    "user-create": Verb(user_create, ("user", "domain")),
    "user-delete": Verb(user_delete, ("user", "domain")),
    "home-setup": Verb(home_setup, ("user", "domain")),
    "home-remove": Verb(home_remove, ("user", "domain")),
    "home-adopt": Verb(home_adopt, ("user", "domain")),
    "fix-ownership": Verb(fix_ownership, ("user", "domain")),
    "default-page": Verb(default_page, ("user", "domain", "runtime")),
    "probe-create": Verb(probe_create, ("user", "domain", "runtime", "nonce")),
    "probe-remove": Verb(probe_remove, ("user", "domain", "nonce")),
    "pool-write": Verb(pool_write, ("user", "domain")),
    "pool-remove": Verb(pool_remove, ("domain",)),
    "pool-apply": Verb(pool_apply, (), stdin=True),
    "fpm-test": Verb(fpm_test, ()),
    "fpm-reload": Verb(fpm_reload, ()),
    "keys-write": Verb(keys_write, ("user",), stdin=True),
    "password-set": Verb(password_set, ("user",), stdin=True),
    "password-clear": Verb(password_clear, ("user",)),
    "unpack": Verb(unpack_upload, ("user", "domain", "staged"), optional=("upload",)),
    "home-usage": Verb(home_usage, (), stdin=True),
}

MAX_STDIN = 1_000_000


def call(cfg: dict[str, Any], verb: str, args: list[str], stdin: str | None = None) -> str:
    """Run one verb with its arguments validated; HelperError says why anything was refused."""
    spec = VERBS.get(verb) if isinstance(verb, str) else None
    if spec is None:
        raise HelperError(f"refused: unknown verb {str(verb)[:40]!r}")
    kinds = (*spec.args, *spec.optional)[: len(args)]
    if not len(spec.args) <= len(args) <= len(spec.args) + len(spec.optional):
        optional = f" [{' '.join(spec.optional)}]" if spec.optional else ""
        raise HelperError(
            f"refused: {verb} takes {len(spec.args)} argument(s) "
            f"({' '.join(spec.args) or 'none'}{optional}), not {len(args)}"
        )
    values = [ARG_TYPES[kind](value) for kind, value in zip(kinds, args, strict=True)]
    if spec.stdin:
        if stdin is not None and len(stdin) > MAX_STDIN:
            raise HelperError("refused: too much input on stdin")
        values.append(stdin or "")
    return spec.func(cfg, *values)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(f"usage: nusantara-helper <verb> [args]; verbs: {', '.join(VERBS)}", file=sys.stderr)
        return 2
    try:
        cfg = load_config()
        stdin = sys.stdin.read(MAX_STDIN + 1) if argv[0] in VERBS and VERBS[argv[0]].stdin else None
        print(call(cfg, argv[0], argv[1:], stdin))
    except HelperError as exc:
        print(f"nusantara-helper: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"nusantara-helper: {argv[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
