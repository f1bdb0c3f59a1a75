"""The root helper (STAND-IN of the ten-sftp lane until ten-core's helper is merged: same
framework, only the SFTP verbs). Every step that needs root behind a CLOSED list of verbs, each
argument checked against an allowlist grammar. No Django import: it runs under sudo as

    python -m panel.tenancy.helper <verb> [args...]     (secrets and batches on stdin)
"""

from __future__ import annotations

import contextlib
import errno
import grp
import json
import os
import pwd
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_PATH = "/etc/nusantara/helper.json"
GECOS_PREFIX = "nusantara-panel site "


class HelperError(Exception):
    """A refused or failed verb; the message says what and why, for the job's error."""


USER_RE = re.compile(r"^np[0-9a-f]{10}$")
_PATH_RE = re.compile(r"^/(?:[A-Za-z0-9._+@-]+/?)*$")
_GROUP_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def _grammar(pattern: re.Pattern[str], what: str, max_len: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not isinstance(value, str) or len(value) > max_len or not pattern.fullmatch(value):
            shown = value[:40] if isinstance(value, str) else type(value).__name__
            raise HelperError(f"refused: {shown!r} is not a valid {what}")
        return value

    return check


ARG_TYPES: dict[str, Callable[[str], str]] = {
    "user": _grammar(USER_RE, "site user name (np + 10 hex digits)", 12),
}

CONFIG_KEYS = {"web_root": "path", "sftp_group": "group", "keys_dir": "path"}


def check_config(raw: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise HelperError("the helper configuration must be a JSON object")
    cfg: dict[str, Any] = {}
    for key, kind in CONFIG_KEYS.items():
        value = raw.get(key)
        ok = isinstance(value, str) and (
            bool(_PATH_RE.fullmatch(value)) and ".." not in value
            if kind == "path"
            else bool(_GROUP_RE.fullmatch(value))
        )
        if not ok:
            raise HelperError(f"the helper configuration has a bad {key}: {str(value)[:60]!r}")
        cfg[key] = value.rstrip("/") or "/" if kind == "path" else value
    return cfg


def load_config() -> dict[str, Any]:
    path = CONFIG_PATH
    override = os.environ.get("NUSANTARA_HELPER_CONFIG")
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


def _run(argv: list[str], stdin: str | None = None) -> tuple[bool, str]:
    try:
        res = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{argv[0]}: {exc}"
    return res.returncode == 0, (res.stderr + res.stdout).strip()[-2000:]


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


# --- verbs: SFTP ------------------------------------------------------------------------------


def _sftp_user(cfg: dict[str, Any], user: str) -> pwd.struct_passwd | None:
    """The site user if it exists and the panel made it (GECOS marker, home in the web root,
    member of the SFTP group); None if it does not exist; a refusal for anyone else."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    home = Path(entry.pw_dir)
    try:
        members = grp.getgrnam(cfg["sftp_group"]).gr_mem
    except KeyError:
        raise HelperError(f"the group {cfg['sftp_group']} does not exist")
    if (
        entry.pw_uid == 0
        or not entry.pw_gecos.startswith(GECOS_PREFIX)
        or home.parent != Path(cfg["web_root"])
        or user not in members
    ):
        raise HelperError(f"refused: the system user {user} was not created by the panel")
    return entry


def _keys_dir(cfg: dict[str, Any]) -> Path:
    """The keys dir, created root:root 0755 (sshd refuses a key file whose path anyone but root
    could change); its parents must already be root's."""
    path = Path(cfg["keys_dir"])
    if os.path.realpath(path) != str(path):
        raise HelperError(f"refused: the keys dir {path} goes through a symbolic link")
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    for part in (path, *path.parents):
        st = os.stat(part, follow_symlinks=False)
        if st.st_uid != 0 or st.st_mode & 0o022:
            raise HelperError(f"refused: {part} must belong to root and be writable only by root")
    # sshd reads a key file as the user logging in: the dir must be traversable by all.
    os.chmod(path, 0o755)  # noqa: S103
    return path


def keys_write(cfg: dict[str, Any], user: str, stdin: str) -> str:
    """Write <keys dir>/<user> (root:root 0644, atomically) with the keys on stdin, each parsed
    again; no key removes the file. The user may already be gone when the input is empty."""
    from panel.tenancy import sshkeys

    try:
        keys = sshkeys.authorized_keys(stdin)
    except sshkeys.KeyRefused as exc:
        raise HelperError(f"refused: a key for {user} is not acceptable: {exc}")
    if _sftp_user(cfg, user) is None and keys:
        raise HelperError(f"the system user {user} does not exist")
    with _dirfd(_keys_dir(cfg)) as fd:
        if not keys:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(user, dir_fd=fd)
            return f"no key for {user}: file removed"
        _write_file(fd, user, "".join(f"{k.line}\n" for k in keys), 0, 0, 0o644)
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


# --- the closed list --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verb:
    func: Callable[..., str]
    args: tuple[str, ...]
    stdin: bool = False


VERBS: dict[str, Verb] = {
    "keys-write": Verb(keys_write, ("user",), stdin=True),
    "password-set": Verb(password_set, ("user",), stdin=True),
    "password-clear": Verb(password_clear, ("user",)),
}

MAX_STDIN = 1_000_000


def call(cfg: dict[str, Any], verb: str, args: list[str], stdin: str | None = None) -> str:
    """Run one verb with its arguments validated; HelperError says why anything was refused."""
    spec = VERBS.get(verb) if isinstance(verb, str) else None
    if spec is None:
        raise HelperError(f"refused: unknown verb {str(verb)[:40]!r}")
    if len(args) != len(spec.args):
        raise HelperError(
            f"refused: {verb} takes {len(spec.args)} argument(s) "
            f"({' '.join(spec.args) or 'none'}), not {len(args)}"
        )
    values = [ARG_TYPES[kind](value) for kind, value in zip(spec.args, args, strict=True)]
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
