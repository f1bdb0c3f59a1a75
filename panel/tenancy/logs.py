"""A site's nginx logs, newest line first, read backwards from the end in blocks.

Access logs grow to gigabytes; the panel never loads a whole file: it seeks to the end (or to the
cursor of the previous page) and reads 64 KiB blocks backwards until it has a page of lines, with
a cap on the bytes one page may scan (a rare filter over a huge file returns a short page and a
cursor instead of reading everything). When the current file runs out, the rotated `.1` follows
(logrotate's `delaycompress` keeps it plain). A cursor names the file by inode, so a rotation
between two pages continues in the file that became `.1` instead of jumping.

No Django import: a plain module, testable on its own (tests/tenancy/test_logs.py).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

BLOCK = 64 * 1024
# A longer line is cut (its newest MAX_LINE bytes kept): memory per page stays bounded even for a
# file without a single newline.
MAX_LINE = 8 * 1024
# The most bytes one page may scan while filtering; then it ends early with a cursor.
SCAN_LIMIT = 16 * 1024 * 1024
WHICH = ("access", "error")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
# nginx's combined format: `... [time] "request" status bytes ...`; nginx escapes `"` inside the
# request as \x22, so the quoted part holds no bare quote.
_STATUS = re.compile(rb'\] "[^"]*" ([1-5])\d\d ')
_CURSOR = re.compile(r"^(\d{1,20})\.(\d{1,20})$")


@dataclass(frozen=True)
class LogPage:
    lines: list[str]
    # Pass back as `cursor` for the next (older) page; None at the start of the oldest file.
    next_cursor: str | None
    # The files were read, but the scan limit ended the page before `limit` lines matched.
    truncated_scan: bool = False


def log_files(logs_dir: Path, which: str) -> list[Path]:
    """The current file and its rotated `.1`, newest first."""
    if which not in WHICH:
        raise ValueError(which)
    current = logs_dir / f"{which}.log"
    return [current, current.with_name(f"{which}.log.1")]


def status_filter(status_class: str) -> Callable[[bytes], bool] | None:
    """A filter for access-log lines of one status class ("4xx"), or None for all lines."""
    if status_class not in STATUS_CLASSES:
        return None
    digit = status_class[0].encode()

    def match(line: bytes) -> bool:
        found = _STATUS.search(line)
        return found is not None and found.group(1) == digit

    return match


def _open(path: Path) -> tuple[int, os.stat_result] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    st = os.fstat(fd)
    if not _is_regular(st.st_mode):
        os.close(fd)
        return None
    return fd, st


def _is_regular(mode: int) -> bool:
    return stat.S_ISREG(mode)


def _backwards(fd: int, end: int) -> Iterator[tuple[int, bytes]]:
    """Yield (start offset, line without its newline) from `end` towards the file's start."""
    pos = end
    tail = b""  # the partial line after the block being read (its start not seen yet)
    while pos > 0:
        size = min(BLOCK, pos)
        pos -= size
        block = os.pread(fd, size, pos)
        if len(block) < size:  # the file was truncated under us: stop cleanly
            return
        parts = (block + tail).split(b"\n")
        tail = parts[0]
        offset = pos + len(tail) + 1  # where the line after the first newline starts
        starts = []
        for part in parts[1:]:
            starts.append(offset)
            offset += len(part) + 1
        yield from zip(reversed(starts), reversed(parts[1:]), strict=True)
        if len(tail) > MAX_LINE:
            # Keep only the newest bytes of an overlong line (its start is still unknown).
            tail = tail[-MAX_LINE:]
    yield 0, tail


def tail(
    files: list[Path],
    *,
    limit: int = 100,
    cursor: str | None = None,
    match: Callable[[bytes], bool] | None = None,
    scan_limit: int = SCAN_LIMIT,
) -> LogPage:
    """Up to `limit` lines, newest first, from `files` (newest file first), starting before
    `cursor` (from a previous page) or at the very end."""
    start_inode, start_pos = _parse(cursor)
    lines: list[str] = []
    scanned = 0
    started = start_inode is None
    for path in files:
        opened = _open(path)
        if opened is None:
            continue
        fd, st = opened
        try:
            if not started:
                if st.st_ino != start_inode:
                    continue  # the cursor's file is older than this one
                end = min(start_pos, st.st_size)
                started = True
            else:
                end = st.st_size
            for offset, raw in _backwards(fd, end):
                scanned += len(raw) + 1
                if not raw and offset == end:
                    continue  # the final newline of the file
                if match is None or match(raw):
                    lines.append(_text(raw))
                    if len(lines) >= limit:
                        return LogPage(lines, _cursor(st.st_ino, offset))
                if scanned >= scan_limit:
                    return LogPage(lines, _cursor(st.st_ino, offset), truncated_scan=True)
        finally:
            os.close(fd)
        # This file is done: the next (older) one is read from its end.
    if not started:
        # The cursor's file has gone (rotated twice since): start again at the newest lines.
        return tail(files, limit=limit, match=match, scan_limit=scan_limit)
    return LogPage(lines, None)


def _text(raw: bytes) -> str:
    # nginx writes bytes as they came (escaped in the access log, not always in the error log);
    # replace what is not UTF-8 rather than fail. The template escapes HTML.
    return raw[-MAX_LINE:].decode("utf-8", "replace").rstrip("\r")


def _cursor(inode: int, offset: int) -> str | None:
    return f"{inode}.{offset}" if offset > 0 else _older(inode)


def _older(inode: int) -> str:
    # The start of a file: the next page begins with the end of the next older file. Position 0
    # of this inode means "nothing left here".
    return f"{inode}.0"


def _parse(cursor: str | None) -> tuple[int | None, int]:
    if not cursor:
        return None, 0
    found = _CURSOR.fullmatch(cursor)
    if found is None:
        return None, 0
    return int(found.group(1)), int(found.group(2))
