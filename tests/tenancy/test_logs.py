"""The log reader: newest lines first, paged by cursor, never the whole file."""

from __future__ import annotations

import os
import time
import tracemalloc

import pytest

from panel.tenancy import logs

LINE = '127.0.0.1 - - [03/Dec/2026:08:00:00 +0700] "GET /p{n} HTTP/1.1" {status} 5 "-" "ua"\n'


def _write(path, count, start=0, status=lambda n: 200):
    with path.open("w") as f:
        for n in range(start, start + count):
            f.write(LINE.format(n=n, status=status(n)))


def _numbers(page):
    return [int(line.split('"GET /p')[1].split(" ")[0]) for line in page.lines]


def test_pages_go_from_newest_to_oldest_across_the_rotated_file(tmp_path):
    _write(tmp_path / "access.log.1", 150)  # p0..p149, rotated
    _write(tmp_path / "access.log", 30, start=150)  # p150..p179, current
    files = logs.log_files(tmp_path, "access")
    seen, cursor = [], None
    for _ in range(5):
        page = logs.tail(files, limit=70, cursor=cursor)
        seen += _numbers(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(range(179, -1, -1))


def test_a_short_current_file_is_followed_by_the_rotated_one(tmp_path):
    _write(tmp_path / "access.log.1", 50)
    _write(tmp_path / "access.log", 3, start=50)
    page = logs.tail(logs.log_files(tmp_path, "access"), limit=10)
    assert _numbers(page) == list(range(52, 42, -1))


def test_missing_files_give_an_empty_page(tmp_path):
    page = logs.tail(logs.log_files(tmp_path, "error"), limit=10)
    assert page.lines == [] and page.next_cursor is None


def test_a_rotation_between_two_pages_continues_in_the_rotated_file(tmp_path):
    current = tmp_path / "access.log"
    _write(current, 300)
    files = logs.log_files(tmp_path, "access")
    first = logs.tail(files, limit=100)
    assert _numbers(first)[0] == 299
    os.rename(current, tmp_path / "access.log.1")  # logrotate
    _write(current, 5, start=1000)
    second = logs.tail(files, limit=100, cursor=first.next_cursor)
    assert _numbers(second) == list(range(199, 99, -1))


def test_status_class_filter_and_scan_limit(tmp_path):
    _write(tmp_path / "access.log", 1000, status=lambda n: 404 if n % 100 == 0 else 200)
    files = logs.log_files(tmp_path, "access")
    page = logs.tail(files, limit=5, match=logs.status_filter("4xx"))
    assert _numbers(page) == [900, 800, 700, 600, 500]
    assert logs.status_filter("9xx") is None
    # A scan limit ends a sparse filter early, with a cursor to go on from.
    page = logs.tail(files, limit=50, match=logs.status_filter("4xx"), scan_limit=20_000)
    assert page.truncated_scan and page.next_cursor
    rest = logs.tail(files, limit=50, match=logs.status_filter("4xx"), cursor=page.next_cursor)
    assert _numbers(page) + _numbers(rest) == list(range(900, -1, -100))


def test_an_overlong_line_and_a_file_without_newlines_stay_bounded(tmp_path):
    path = tmp_path / "error.log"
    path.write_bytes(b"x" * 3_000_000 + b"\nlast line\n")
    page = logs.tail([path], limit=5)
    assert page.lines[0] == "last line"
    assert len(page.lines[1]) == logs.MAX_LINE and page.next_cursor is None


@pytest.mark.parametrize("cursor", ["", "junk", "1.2.3", "-1.5", "9" * 30 + ".1"])
def test_a_bad_cursor_starts_at_the_newest_line(tmp_path, cursor):
    _write(tmp_path / "access.log", 3)
    assert _numbers(logs.tail(logs.log_files(tmp_path, "access"), cursor=cursor)) == [2, 1, 0]


def test_a_50_mb_log_is_read_from_the_end_without_reading_it_all(tmp_path, monkeypatch):
    path = tmp_path / "access.log"
    with path.open("w") as f:
        chunk = "".join(LINE.format(n=n, status=200) for n in range(10_000))
        while f.tell() < 50 * 1024 * 1024:
            f.write(chunk)
    files = logs.log_files(tmp_path, "access")
    read = []
    pread = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, off: read.append(n) or pread(fd, n, off))
    tracemalloc.start()
    started = time.perf_counter()
    page = logs.tail(files, limit=100)
    for _ in range(9):  # ten pages deep
        page = logs.tail(files, limit=100, cursor=page.next_cursor)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(page.lines) == 100 and page.lines[-1].endswith('"ua"')
    assert elapsed < 0.5, elapsed
    assert peak < 1024 * 1024, peak  # a few 64 KiB blocks, not 50 MB
    assert sum(read) < 2 * 1024 * 1024, sum(read)  # ten pages of ~90 bytes a line
