"""Install uploaded files or unpack a .zip into a site's `public/`, refusing anything hostile.

Runs as the site's own user (the root helper drops to it before calling `install`; with
isolation off the worker calls it itself), so the customer's files can only ever be changed
with the customer's own rights. No Django import: the root helper imports this module.

All or nothing: everything is first written into a fresh directory inside the site's `tmp/`
(same filesystem as `public/`), every check runs before a single name in `public/` changes, and
only then are the entries renamed into place. On any refusal the staging directory is removed
and `public/` is exactly as before. Directories are opened with O_NOFOLLOW one component at a
time, so a symbolic link the customer planted in `public/` is refused, never followed.

Refusals raise `UnpackError(code, name)`; the worker turns the code into a translated message
(panel/tenancy/uploads.py: MESSAGES).
"""

from __future__ import annotations

# zipfile decodes legacy names with cp437, imported on first use: import it now, before the
# helper drops to the site user, who may not be allowed to read the Python installation.
import encodings.cp437  # noqa: F401
import errno
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

CHUNK = 1024 * 1024
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_DEPTH = 32
# Deflate reaches ~1,000:1 on zeros; real content (HTML, text, SQL dumps) stays far below 100:1.
# Small entries are exempt: a tiny, very compressible file is no threat.
MAX_RATIO = 200
RATIO_FLOOR = 1024 * 1024
FILE_MODE = 0o644  # public/ itself (0750, group nginx) is the gate; inside, nginx reads "other"
DIR_MODE = 0o755
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SPECIAL = (stat.S_IFLNK, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK)


class UnpackError(Exception):
    """A refusal: `code` says which rule, `name` the entry or path it is about."""

    def __init__(self, code: str, name: str = "") -> None:
        super().__init__(f"{code}: {name}" if name else code)
        self.code = code
        self.name = name


@dataclass(frozen=True)
class Limits:
    max_entries: int
    max_total: int  # uncompressed bytes


@dataclass
class Summary:
    files: int = 0
    dirs: int = 0
    bytes: int = 0


def _shown(name: str) -> str:
    """A name as it may appear in a message: control characters made visible, length capped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)[:200]


def split_path(value: str, *, allow_dir_suffix: bool = False) -> list[str]:
    """The components of a relative path, or UnpackError. Refused: empty, absolute, drive
    letters, backslashes, `.`/`..`, empty components, NUL and other control characters,
    overlong names. `allow_dir_suffix` admits one trailing `/` (a zip directory entry)."""
    shown = _shown(value)
    if any(not c.isprintable() for c in value):
        raise UnpackError("control_chars", shown)
    if "\\" in value:
        raise UnpackError("backslash", shown)
    if value.startswith("/") or (len(value) >= 2 and value[1] == ":" and value[0].isalpha()):
        raise UnpackError("absolute", shown)
    if allow_dir_suffix and value.endswith("/"):
        value = value[:-1]
    parts = value.split("/")
    if not value or any(part in ("", ".", "..") for part in parts):
        raise UnpackError("traversal" if ".." in parts else "bad_name", shown)
    if len(value.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES or len(parts) > MAX_DEPTH:
        raise UnpackError("too_long", shown)
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in parts):
        raise UnpackError("too_long", shown)
    return parts


def check_zip(zf: zipfile.ZipFile, limits: Limits) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    """Every entry checked from the central directory before anything is written."""
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise UnpackError("too_many", str(len(infos)))
    entries = []
    seen: set[tuple[str, ...]] = set()
    files: set[tuple[str, ...]] = set()
    declared = 0
    for info in infos:
        # zipfile cuts a name at NUL; the original keeps what the archive really says.
        raw_name = getattr(info, "orig_filename", info.filename)
        if "\x00" in raw_name:
            raise UnpackError("control_chars", _shown(raw_name))
        parts = split_path(info.filename, allow_dir_suffix=True)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise UnpackError("symlink", _shown(info.filename))
        if kind in _SPECIAL:
            raise UnpackError("special", _shown(info.filename))
        if info.flag_bits & 0x1:
            raise UnpackError("encrypted", _shown(info.filename))
        key = tuple(parts)
        if key in seen:
            raise UnpackError("duplicate", _shown(info.filename))
        seen.add(key)
        if not info.is_dir():
            files.add(key)
            declared += info.file_size
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(
                info.compress_size, 1
            ):
                raise UnpackError("ratio", _shown(info.filename))
        entries.append((info, parts))
    if declared > limits.max_total:
        raise UnpackError("too_large", str(declared))
    for key in seen:  # "a" as a file and "a/b" in the same archive
        for depth in range(1, len(key)):
            if key[:depth] in files:
                raise UnpackError("file_dir_clash", "/".join(key[:depth]))
    return entries


def _check_directory_size(archive: BinaryIO, limits: Limits) -> None:
    """Refuse an archive with too many entries from its end record, before zipfile builds an
    object for every entry (a small zip can declare a million). The central directory's size
    bounds what zipfile will parse whatever the count claims: allow 512 bytes per entry."""
    try:
        end = zipfile._EndRecData(archive)  # type: ignore[attr-defined]  # stable since 2.x
    except OSError:
        end = None
    archive.seek(0)
    if not end:
        return  # not a zip: ZipFile says so next
    count, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    if count > limits.max_entries or size > 512 * limits.max_entries:
        raise UnpackError("too_many", str(count))


def _open_dir(parent: int, name: str, *, create: bool) -> int:
    """Open one directory component without following a link; create it when asked."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
        os.mkdir(name, DIR_MODE, dir_fd=parent)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        os.fchmod(fd, DIR_MODE)  # whatever the umask
        return fd
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):  # a file, or a symbolic link
            kind = _kind(parent, name)
            raise UnpackError("symlink_in_public" if kind == "link" else "file_in_way", name)
        raise


def _kind(dir_fd: int, name: str) -> str | None:
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def _write(dir_fd: int, name: str, source: IO[bytes], budget: int, declared: int | None) -> int:
    """Copy `source` into a new file, counting real bytes: a zip bomb lies about sizes."""
    fd = os.open(
        name,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        FILE_MODE,
        dir_fd=dir_fd,
    )
    os.fchmod(fd, FILE_MODE)  # whatever the umask
    written = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > budget:
                raise UnpackError("too_large", name)
            if declared is not None and written > declared:
                raise UnpackError("lying_sizes", name)
            out.write(chunk)
    return written


def _stage_zip(zf: zipfile.ZipFile, staging: int, limits: Limits, summary: Summary) -> None:
    for info, parts in check_zip(zf, limits):
        fds = [staging]
        try:
            for part in parts[:-1] if not info.is_dir() else parts:
                fds.append(_open_dir(fds[-1], part, create=True))
            if info.is_dir():
                continue
            try:
                with zf.open(info) as source:
                    summary.bytes += _write(
                        fds[-1],
                        parts[-1],
                        source,
                        limits.max_total - summary.bytes,
                        info.file_size,
                    )
            except (zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
                raise UnpackError("corrupt", f"{_shown(info.filename)} ({exc})") from None
        finally:
            for fd in fds[1:]:
                os.close(fd)


def _plan(src: int, dst: int | None, rel: str, moves: list[tuple[str, str]]) -> None:
    """Decide, before anything moves, where every staged entry goes. `dst` is None below a
    directory that does not exist yet (then the whole staged directory moves at once)."""
    for entry in sorted(os.listdir(src)):
        path = f"{rel}/{entry}" if rel else entry
        is_dir = stat.S_ISDIR(os.stat(entry, dir_fd=src, follow_symlinks=False).st_mode)
        existing = _kind(dst, entry) if dst is not None else None
        if existing == "link" and is_dir:
            raise UnpackError("symlink_in_public", _shown(path))
        if existing == "dir" and not is_dir:
            raise UnpackError("dir_in_way", _shown(path))
        if existing in ("file", "other") and is_dir:
            raise UnpackError("file_in_way", _shown(path))
        if existing == "other":
            raise UnpackError("file_in_way", _shown(path))
        if is_dir and existing == "dir" and dst is not None:
            sub_src = os.open(entry, _DIR_FLAGS, dir_fd=src)
            try:
                sub_dst = _open_dir(dst, entry, create=False)
            except FileNotFoundError:  # gone meanwhile: move it as a whole
                os.close(sub_src)
                moves.append((path, "move"))
                continue
            try:
                _plan(sub_src, sub_dst, path, moves)
            finally:
                os.close(sub_src)
                os.close(sub_dst)
        else:
            # A new file or directory, or a file over a file (or over a link: rename replaces
            # the link itself, it never writes through it).
            moves.append((path, "move"))


def _apply(staging: int, target: int, moves: Iterable[tuple[str, str]]) -> None:
    for path, _op in moves:
        parts = path.split("/")
        src_fds, dst_fds = [staging], [target]
        try:
            for part in parts[:-1]:
                src_fds.append(os.open(part, _DIR_FLAGS, dir_fd=src_fds[-1]))
                dst_fds.append(_open_dir(dst_fds[-1], part, create=True))
            os.rename(parts[-1], parts[-1], src_dir_fd=src_fds[-1], dst_dir_fd=dst_fds[-1])
        finally:
            for fd in src_fds[1:] + dst_fds[1:]:
                os.close(fd)


def _count(staging: int, summary: Summary) -> None:
    for _root, dirs, files, _fd in os.fwalk(".", dir_fd=staging):
        summary.dirs += len(dirs)
        summary.files += len(files)


def install(
    *,
    public: Path,
    tmp: Path,
    subdir: str = "",
    archive: BinaryIO | None = None,
    files: Sequence[tuple[str, BinaryIO]] | None = None,
    limits: Limits,
) -> Summary:
    """Unpack `archive` (a zip) or install `files` (name, stream) into public/<subdir>.

    `public` and `tmp` are the site's own directories; neither may be a symbolic link."""
    sub_parts = split_path(subdir) if subdir else []
    summary = Summary()
    public_fd = os.open(public, _DIR_FLAGS)
    staging_path = Path(tempfile.mkdtemp(prefix="upload-", dir=os.fspath(tmp)))
    try:
        staging = os.open(staging_path, _DIR_FLAGS)
        try:
            if archive is not None:
                _check_directory_size(archive, limits)
                try:
                    zf = zipfile.ZipFile(archive)
                except (zipfile.BadZipFile, OSError, EOFError):
                    raise UnpackError("not_zip") from None
                with zf:
                    _stage_zip(zf, staging, limits, summary)
            else:
                seen: set[str] = set()
                for name, stream in files or []:
                    parts = split_path(name)
                    if len(parts) != 1:
                        raise UnpackError("bad_name", _shown(name))
                    if name in seen:
                        raise UnpackError("duplicate", _shown(name))
                    seen.add(name)
                    summary.bytes += _write(
                        staging, name, stream, limits.max_total - summary.bytes, None
                    )
            _count(staging, summary)
            # Where it goes: public/<subdir>, every component a real directory.
            fds = [public_fd]
            try:
                for part in sub_parts:
                    try:
                        fds.append(_open_dir(fds[-1], part, create=False))
                    except FileNotFoundError:
                        fds.append(-1)
                        break
                moves: list[tuple[str, str]] = []
                _plan(staging, fds[-1] if fds[-1] != -1 else None, "", moves)
            finally:
                for fd in fds[1:]:
                    if fd != -1:
                        os.close(fd)
            # Every check passed: now, and only now, public/ changes.
            fds = [public_fd]
            try:
                for part in sub_parts:
                    fds.append(_open_dir(fds[-1], part, create=True))
                _apply(staging, fds[-1], moves)
            finally:
                for fd in fds[1:]:
                    os.close(fd)
        finally:
            os.close(staging)
    finally:
        os.close(public_fd)
        shutil.rmtree(staging_path, ignore_errors=True)
    return summary
