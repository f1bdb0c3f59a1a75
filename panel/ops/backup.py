"""Backup and restore of the panel's state that is not in the database.

The database is backed up with pg_dump (docs/operations.md); this archive holds the rest: the
ACME account keys and URLs, the certificates and their keys, the nginx vhosts, the embedded
secret key when there is one, and optionally the web root. Members are stored under logical
names (`acme/`, `certs/`, `vhosts/`, `secret_key`, `www/`) and restored to wherever the current
settings put them, so a restore onto a host with other paths works.

Restore is defensive: it checks every member before writing anything (no absolute path, no
`..`, no link or device, only known names), extracts with tarfile's "data" filter into a
staging directory, and then moves files into place one by one, atomically, with their modes.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

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
    manifest = {
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
    if not (member.isfile() or member.isdir()):
        return "not a regular file or directory (links and devices are refused)"
    if name != MANIFEST and pure.parts[0] not in allowed:
        return "not a part of a panel backup"
    return None


def restore_backup(path: Path) -> Report:
    """Check the whole archive, then put every file back where the current settings say."""
    report = Report()
    try:
        tar = tarfile.open(path, mode="r:gz")  # noqa: SIM115 - closed by the `with` below
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{path}: not a readable .tar.gz ({exc})")
    with tar:
        members = tar.getmembers()
        targets = components(include_web_root=True)
        problems = [
            f"{m.name}: {reason}"
            for m in members
            if (reason := _check_member(m, set(targets))) is not None
        ]
        if problems:
            raise BackupError("unsafe archive, nothing was restored:\n  " + "\n  ".join(problems))
        if MANIFEST not in {m.name for m in members}:
            raise BackupError(f"{path}: no {MANIFEST}; not made by `manage.py backup`")
        staging_parent = Path(settings.NUSANTARA_DATA_DIR)
        staging_parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=staging_parent, prefix=".restore-") as staging:
            tar.extractall(staging, members=members, filter="data")
            # Files first, then directory modes, so a read-only directory cannot block its files.
            ordered = sorted(members, key=lambda m: m.isdir())
            for member in ordered:
                if member.name == MANIFEST:
                    continue
                first, *rest = PurePosixPath(member.name).parts
                dest = targets[first].joinpath(*rest)
                _place(Path(staging) / member.name, dest, member)
                if member.isfile():
                    report.files += 1
            report.restored = sorted({PurePosixPath(m.name).parts[0] for m in members} - {MANIFEST})
    return report


def _place(source: Path, dest: Path, member: tarfile.TarInfo) -> None:
    mode = stat.S_IMODE(member.mode) & 0o777  # never setuid/setgid/sticky from an archive
    if member.isdir():
        dest.mkdir(parents=True, exist_ok=True)
        os.chmod(dest, mode)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.restore")
    shutil.copyfile(source, tmp)
    os.chmod(tmp, mode)
    os.utime(tmp, (member.mtime, member.mtime))
    os.replace(tmp, dest)
