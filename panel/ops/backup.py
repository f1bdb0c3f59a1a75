"""Backup and restore of the panel's state that is not in the database.

The database is backed up with pg_dump (docs/operations.md); this archive holds the rest: the
ACME account keys and URLs, the certificates and their keys, the nginx vhosts, the embedded
secret key when there is one, and optionally the web root. Members are stored under logical
names (`acme/`, `certs/`, `vhosts/`, `secret_key`, `www/`) and restored to wherever the current
settings put them, so a restore onto a host with other paths works.

Restore is defensive: it checks every member before writing anything (no absolute path, no
`..`, no link or device, only known names, each once) and that no link on this host is in the
way, extracts with tarfile's "data" filter into a staging directory, and then moves files into
place one by one, atomically, with their modes, through descriptors opened without following
links (a customer can plant links in the web root; restore runs as root).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings

MANIFEST = "MANIFEST.json"
FORMAT = 1


class BackupError(Exception):
    """The archive cannot be written or is not safe to restore."""


def components(include_web_root: bool = False) -> dict[str, Path]:
    """Logical name -> where it lives on this host (from the settings)."""
    data_dir = Path(settings.NUSANTARA_DATA_DIR)
    parts = {
        "acme": data_dir / "acme",
        "certs": Path(settings.NUSANTARA_CERT_DIR),
        "vhosts": Path(settings.NUSANTARA_NGINX_CONF_DIR),
        "secret_key": data_dir / "secret_key",
    }
    if include_web_root:
        parts["www"] = Path(settings.NUSANTARA_WEB_ROOT)
    return parts


@dataclass
class Report:
    files: int = 0
    skipped: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)


def _walk(root: Path) -> Iterator[Path]:
    yield root
    if root.is_dir() and not root.is_symlink():
        for child in sorted(root.iterdir()):
            yield from _walk(child)


def create_backup(path: Path, *, include_web_root: bool = False) -> Report:
    """Write a gzip tar (mode 0600, written atomically) of everything in components()."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    report = Report()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "components": [],
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)  # the archive holds private keys
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w:gz") as tar:
            for name, source in components(include_web_root).items():
                if not source.exists():
                    continue
                manifest["components"].append(name)
                for item in _walk(source):
                    if item == path or item.name.startswith(f".{path.name}."):
                        continue  # the archive itself, when written inside a backed-up dir
                    rel = item.relative_to(source)
                    arcname = name if rel == Path(".") else f"{name}/{rel.as_posix()}"
                    if item.is_symlink() or not (item.is_file() or item.is_dir()):
                        report.skipped.append(f"{arcname} (not a regular file or directory)")
                        continue
                    tar.add(item, arcname=arcname, recursive=False)
                    report.files += item.is_file()
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), 0o600, int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report


_LINK_REFUSED = "(links and devices are refused)"
# Names that are one file on the host; every other top-level name is a directory tree.
_FILE_COMPONENTS = {"secret_key"}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _check_member(member: tarfile.TarInfo, allowed: set[str]) -> str | None:
    """Why this member must not be restored, or None."""
    name = member.name
    pure = PurePosixPath(name)
    if not pure.parts:
        return "empty name"
    if name.startswith(("/", "\\")) or pure.is_absolute() or ":" in pure.parts[0]:
        return "absolute path"
    if any(part == ".." for part in pure.parts):
        return "path with '..'"
    if member.issym():
        return f"symbolic link to {member.linkname!r} {_LINK_REFUSED}"
    if member.islnk():
        return f"hard link to {member.linkname!r} {_LINK_REFUSED}"
    if member.ischr() or member.isblk():
        return f"device file {_LINK_REFUSED}"
    if not (member.isfile() or member.isdir()):
        return f"not a regular file or directory {_LINK_REFUSED}"
    if name == MANIFEST:
        return None if member.isfile() else "not a regular file"
    first = pure.parts[0]
    if first not in allowed:
        return "not a part of a panel backup"
    if first in _FILE_COMPONENTS and (len(pure.parts) > 1 or not member.isfile()):
        return f"{first} is a single file in a panel backup"
    if first not in _FILE_COMPONENTS and len(pure.parts) == 1 and not member.isdir():
        return f"{first} is a directory in a panel backup"
    return None


def _destination(targets: dict[str, Path], name: str) -> tuple[Path, tuple[str, ...]]:
    """(a trusted directory named by the settings, the member's path below it). Everything
    below the trusted directory may be a customer's (the web root): it is never followed."""
    first, *rest = PurePosixPath(name).parts
    base = targets[first]
    if first in _FILE_COMPONENTS:
        return base.parent, (base.name,)
    return base, tuple(rest)


def _host_problems(targets: dict[str, Path], members: list[tarfile.TarInfo]) -> list[str]:
    """What on this host is in the way of restoring `members` (checked before writing)."""
    problems = []
    for member in members:
        if member.name == MANIFEST:
            continue
        root, rel = _destination(targets, member.name)
        path = root
        for i, part in enumerate(rel):
            path = path / part
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                break
            last = i == len(rel) - 1
            if stat.S_ISLNK(st.st_mode):
                problems.append(
                    f"{member.name}: {path} is a symbolic link on this host; restore never "
                    "writes through links (remove it, then restore again)"
                )
                break
            if not last and not stat.S_ISDIR(st.st_mode):
                problems.append(f"{member.name}: {path} is not a directory on this host")
                break
            if last and member.isdir() != stat.S_ISDIR(st.st_mode):
                kind = "a directory" if member.isdir() else "a regular file"
                problems.append(f"{member.name}: {path} exists on this host and is not {kind}")
            elif last and member.isfile() and not stat.S_ISREG(st.st_mode):
                problems.append(f"{member.name}: {path} is not a regular file on this host")
    return problems


def restore_backup(path: Path) -> Report:
    """Check the whole archive and the places it goes to, then put every file back where the
    current settings say, without following any link on the way (_open_dir)."""
    report = Report()
    try:
        tar = tarfile.open(path, mode="r:gz")  # noqa: SIM115 - closed by the `with` below
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{path}: not a readable .tar.gz ({exc})")
    with tar:
        try:
            members = tar.getmembers()
        except (OSError, tarfile.TarError) as exc:
            raise BackupError(f"{path}: not a readable .tar.gz ({exc})")
        targets = components(include_web_root=True)
        problems = [
            f"{m.name}: {reason}"
            for m in members
            if (reason := _check_member(m, set(targets))) is not None
        ]
        seen: set[PurePosixPath] = set()
        for m in members:
            if PurePosixPath(m.name) in seen:
                problems.append(f"{m.name}: appears twice in the archive")
            seen.add(PurePosixPath(m.name))
        if problems:
            raise BackupError("unsafe archive, nothing was restored:\n  " + "\n  ".join(problems))
        if MANIFEST not in {m.name for m in members}:
            raise BackupError(f"{path}: no {MANIFEST}; not made by `manage.py backup`")
        problems = _host_problems(targets, members)
        if problems:
            raise BackupError("nothing was restored:\n  " + "\n  ".join(problems))
        staging_parent = Path(settings.NUSANTARA_DATA_DIR)
        staging_parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=staging_parent, prefix=".restore-") as staging:
            tar.extractall(staging, members=members, filter="data")
            # Files first, then directory modes, so a read-only directory cannot block its files.
            ordered = sorted(members, key=lambda m: m.isdir())
            for member in ordered:
                if member.name == MANIFEST:
                    continue
                root, rel = _destination(targets, member.name)
                _place(Path(staging) / member.name, root, rel, member)
                if member.isfile():
                    report.files += 1
            report.restored = sorted({PurePosixPath(m.name).parts[0] for m in members} - {MANIFEST})
    return report


def _open_dir(root: Path, rel: tuple[str, ...]) -> int:
    """A descriptor of root/rel, each component below `root` created when missing and opened
    with O_NOFOLLOW relative to its parent: a link planted there (even after the checks) makes
    the open fail instead of leading the restore elsewhere."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in rel:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:  # ELOOP: a symbolic link; ENOTDIR: not a directory
                raise BackupError(
                    f"{root.joinpath(*rel)}: {part} is not a plain directory on this host "
                    f"({exc.strerror}); restore never writes through links"
                )
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _place(source: Path, root: Path, rel: tuple[str, ...], member: tarfile.TarInfo) -> None:
    """Put one member at root/rel. Modes are set on descriptors opened without following
    links, and a file is written to a fresh name (O_EXCL|O_NOFOLLOW) then renamed over the
    old entry, which replaces that entry and never writes into what it points to."""
    mode = stat.S_IMODE(member.mode) & 0o777  # never setuid/setgid/sticky from an archive
    if member.isdir():
        fd = _open_dir(root, rel)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return
    *parents, name = rel
    dir_fd = _open_dir(root, tuple(parents))
    try:
        tmp = f".{name}.{secrets.token_hex(8)}.restore"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
        try:
            with open(source, "rb") as src, os.fdopen(os.dup(fd), "wb") as out:
                shutil.copyfileobj(src, out)
            os.fchmod(fd, mode)
            os.utime(fd, (member.mtime, member.mtime))
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        finally:
            os.close(fd)
    finally:
        os.close(dir_fd)
