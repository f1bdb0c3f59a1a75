"""The root helper's read-only `home-usage` verb: what it counts (like `du -sx`, checked against
the real `du`), what it never follows, and the strict grammar of its input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panel.tenancy import helper, rootcmd
from panel.tenancy.helper import HelperError
from tests.conftest import require


@pytest.fixture
def web_root(tmp_path: Path, settings) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    settings.NUSANTARA_WEB_ROOT = root
    return root


def _usage(domains: list[str], seconds: int = 30, budget: int = 60) -> dict:
    request = json.dumps({"domains": domains, "seconds": seconds, "budget": budget})
    return json.loads(helper.call(rootcmd.helper_config(), "home-usage", [], request))["results"]


def _du(path: Path) -> int:
    """The real du: allocated bytes, one filesystem, links not followed."""
    out = subprocess.run(["du", "-sxPB1", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _home(web_root: Path, domain: str) -> Path:
    home = web_root / domain
    (home / "public").mkdir(parents=True)
    (home / "tmp").mkdir()
    return home


def test_it_counts_what_du_counts(web_root):
    home = _home(web_root, "shop.example.com")
    (home / "public" / "index.html").write_text("<h1>hi</h1>\n")
    (home / "public" / "big.bin").write_bytes(os.urandom(300_000))
    with (home / "tmp" / "sparse").open("wb") as fh:  # 50 MB apparent, almost nothing on disk
        fh.seek(50_000_000)
        fh.write(b"x")
    nested = home / "public" / "a" / "b" / "c"
    nested.mkdir(parents=True)
    (nested / "deep.txt").write_text("deep\n" * 1000)
    result = _usage(["shop.example.com"])["shop.example.com"]
    assert result["bytes"] == _du(home)
    assert 300_000 < result["bytes"] < 5_000_000  # the sparse file counts what it takes
    assert result["entries"] == 10  # home, public, tmp, 4 files, a, b, c


def test_a_symlink_to_root_and_to_another_home_is_not_followed(web_root):
    other = _home(web_root, "victim.example.com")
    (other / "public" / "secret.bin").write_bytes(os.urandom(2_000_000))
    home = _home(web_root, "attacker.example.com")
    (home / "public" / "root").symlink_to("/")
    (home / "public" / "neighbour").symlink_to(other)
    (home / "public" / "secret").symlink_to(other / "public" / "secret.bin")
    results = _usage(["attacker.example.com", "victim.example.com"])
    assert results["attacker.example.com"]["bytes"] == _du(home) < 100_000
    assert results["victim.example.com"]["bytes"] >= 2_000_000


def test_a_hard_linked_file_counts_once(web_root):
    home = _home(web_root, "links.example.com")
    (home / "public" / "one.bin").write_bytes(os.urandom(1_000_000))
    for n in range(20):
        os.link(home / "public" / "one.bin", home / "public" / f"copy{n}.bin")
    result = _usage(["links.example.com"])["links.example.com"]
    assert result["bytes"] == _du(home) < 1_200_000


def test_a_missing_home_and_a_home_that_is_a_link_give_no_number(web_root, tmp_path):
    _home(web_root, "fine.example.com")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "big.bin").write_bytes(os.urandom(1_000_000))
    (web_root / "linked.example.com").symlink_to(outside)
    results = _usage(["fine.example.com", "gone.example.com", "linked.example.com"])
    assert "bytes" in results["fine.example.com"]
    assert results["gone.example.com"] == {"missing": True}
    assert "bytes" not in results["linked.example.com"]
    assert "symbolic link" in results["linked.example.com"]["error"]


def test_files_and_folders_vanishing_mid_walk_are_not_counted(web_root, monkeypatch):
    """The directory is read, then (as a customer's PHP might) entries are deleted before the
    walk reaches them: real deletions, injected at the one moment a test cannot hit by timing."""
    home = _home(web_root, "busy.example.com")
    (home / "public" / "stays.bin").write_bytes(os.urandom(200_000))
    (home / "public" / "vanish.bin").write_bytes(os.urandom(500_000))
    (home / "public" / "vanish-dir").mkdir()
    (home / "public" / "vanish-dir" / "inner.bin").write_bytes(os.urandom(500_000))
    real_scandir = os.scandir
    listed = []

    class Listing:
        """A real directory listing, after which the vanish* entries are really deleted."""

        def __init__(self, fd):
            self.inner = real_scandir(fd)
            self.entries = iter(list(self.inner))
            names = os.listdir(fd)
            if "vanish.bin" in names:  # public/, listed: now its entries go
                listed.extend(names)
                (home / "public" / "vanish.bin").unlink()
                (home / "public" / "vanish-dir" / "inner.bin").unlink()
                (home / "public" / "vanish-dir").rmdir()

        def __iter__(self):
            return self

        def __next__(self):
            return next(self.entries)

        def close(self):
            self.inner.close()

    monkeypatch.setattr(helper.os, "scandir", Listing)
    result = _usage(["busy.example.com"])["busy.example.com"]
    monkeypatch.undo()
    assert "vanish.bin" in listed and "vanish-dir" in listed
    assert result["bytes"] == _du(home)
    assert 200_000 <= result["bytes"] < 500_000


def test_a_walk_past_its_time_limit_or_too_deep_claims_nothing(web_root):
    home = _home(web_root, "deep.example.com")
    fd = os.open(home / "public", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(helper.USAGE_MAX_DEPTH + 5):  # deeper than PATH_MAX allows by name
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    result = _usage(["deep.example.com"])["deep.example.com"]
    assert "bytes" not in result
    assert f"nested deeper than {helper.USAGE_MAX_DEPTH} directories" in result["error"]
    with (
        helper._dirfd(web_root) as root,
        helper._dirfd("deep.example.com", root) as top,
        pytest.raises(helper._UsageStopped, match="time limit"),
    ):
        helper._walk_usage(top, deadline=time.monotonic() - 1)


def test_no_directory_fd_is_left_open(web_root):
    home = _home(web_root, "fds.example.com")
    for n in range(30):
        (home / "public" / f"d{n}").mkdir()
        (home / "public" / f"d{n}" / "f").write_text("x")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        _usage(["fds.example.com"])
    assert len(os.listdir("/proc/self/fd")) == before


def test_the_budget_leaves_the_rest_for_the_next_call(web_root):
    for n in range(3):
        _home(web_root, f"b{n}.example.com")
    with helper._dirfd(web_root) as root:
        results = helper.measure_homes(
            root, ["b0.example.com", "b1.example.com", "b2.example.com"], seconds=5, budget=0
        )
    assert list(results) == ["b0.example.com"]  # the first is always measured


HOSTILE = [
    "",
    "not json",
    "[]",
    '"shop.example.com"',
    json.dumps({"domains": ["a.example.com"], "seconds": 5}),
    json.dumps({"domains": ["a.example.com"], "seconds": 5, "budget": 5, "extra": 1}),
    json.dumps({"domains": [], "seconds": 5, "budget": 5}),
    json.dumps({"domains": "a.example.com", "seconds": 5, "budget": 5}),
    json.dumps({"domains": ["a.example.com"] * 2, "seconds": 5, "budget": 5}),
    json.dumps({"domains": [f"d{n}.example.com" for n in range(1001)], "seconds": 5, "budget": 5}),
    json.dumps({"domains": ["a.example.com"], "seconds": 0, "budget": 5}),
    json.dumps({"domains": ["a.example.com"], "seconds": -1, "budget": 5}),
    json.dumps({"domains": ["a.example.com"], "seconds": True, "budget": 5}),
    json.dumps({"domains": ["a.example.com"], "seconds": 1.5, "budget": 5}),
    json.dumps({"domains": ["a.example.com"], "seconds": "5", "budget": 5}),
    json.dumps({"domains": ["a.example.com"], "seconds": 5, "budget": 10**9}),
    # Nested deeper than the JSON parser's recursion: a refusal, not a traceback.
    "[" * 100_000,
    '{"domains": ' + "[" * 100_000,
    '{"domains": ["a.example.com"], "seconds": NaN, "budget": 5}',
    '{"domains": ["a.example.com"], "seconds": 1' + "0" * 5000 + ', "budget": 5}',
    *(
        json.dumps({"domains": [bad], "seconds": 5, "budget": 5})
        for bad in (
            "..",
            ".",
            "../etc",
            "/",
            "/etc",
            "a.example.com/../../etc",
            "a.example.com/public",
            "A.EXAMPLE.COM",
            "a.example.com\x00",
            "a.example.com\n",
            " a.example.com",
            "*.example.com",
            "xn--bcher-kva.id.",
            "localhost",
            "",
            123,
            None,
            ["a.example.com"],
            {"a": 1},
        )
    ),
]


@pytest.mark.parametrize("stdin", HOSTILE)
def test_hostile_input_is_refused_before_anything_is_read(web_root, stdin):
    (web_root / "etc").mkdir()
    with pytest.raises(HelperError, match="^refused: "):
        helper.call(rootcmd.helper_config(), "home-usage", [], stdin)


def test_it_takes_no_arguments_and_refuses_a_web_root_through_a_link(web_root, tmp_path, settings):
    with pytest.raises(HelperError, match="takes 0 argument"):
        helper.call(rootcmd.helper_config(), "home-usage", ["a.example.com"], "{}")
    link = tmp_path / "linked-root"
    link.symlink_to(web_root)
    settings.NUSANTARA_WEB_ROOT = link
    with pytest.raises(HelperError, match="symbolic link"):
        _usage(["a.example.com"])


def test_the_helper_as_a_program_measures_too(web_root, tmp_path):
    """The same verb through `python -m panel.tenancy.helper` with a root-owned config, as sudo
    runs it (the in-process call above skips only the process boundary)."""
    if os.geteuid() != 0:
        pytest.skip("the helper program reads a root-owned config")
    home = _home(web_root, "prog.example.com")
    (home / "public" / "f.bin").write_bytes(os.urandom(100_000))
    config = tmp_path / "helper.json"
    config.write_text(json.dumps(rootcmd.helper_config()))
    config.chmod(0o600)
    request = json.dumps({"domains": ["prog.example.com"], "seconds": 5, "budget": 5})
    out = subprocess.run(
        [sys.executable, "-m", "panel.tenancy.helper", "home-usage"],
        input=request,
        capture_output=True,
        text=True,
        env={**os.environ, "NUSANTARA_HELPER_CONFIG": str(config)},
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"]["prog.example.com"]["bytes"] == _du(home)


def test_another_filesystem_mounted_inside_a_home_is_not_counted(web_root):
    """A mount inside a home (a bind mount an admin forgot, a customer's FUSE) is skipped, as
    `du -x` does: its files are not the home's disk use."""
    home = _home(web_root, "mounted.example.com")
    (home / "public" / "own.bin").write_bytes(os.urandom(100_000))
    mnt = home / "public" / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True
    )
    require(mounted.returncode == 0, f"cannot mount a tmpfs here: {mounted.stderr!r}")
    try:
        (mnt / "other-fs.bin").write_bytes(os.urandom(4_000_000))
        result = _usage(["mounted.example.com"])["mounted.example.com"]
        assert result["bytes"] == _du(home) < 1_000_000
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_hostile_file_names_are_counted_like_any_other(web_root):
    """Names a customer can create over SFTP or from PHP: bytes that are not UTF-8, line breaks,
    a leading dash, a name that looks like a path or JSON."""
    home = _home(web_root, "names.example.com")
    public = os.fsencode(home / "public")
    for name in (b"\xff\xfe-not-utf8", b"line\nbreak", b"-rf", b"..\\..", b'{"bytes": 1}'):
        os.mkdir(os.path.join(public, name))
        with open(os.path.join(public, name, b"f\xff"), "wb") as fh:
            fh.write(os.urandom(40_000))
    result = _usage(["names.example.com"])["names.example.com"]
    assert result["bytes"] == _du(home) > 200_000


def test_fifos_sockets_and_devices_are_counted_without_being_opened(web_root):
    """Attack: a customer leaves a FIFO (opening it would block the walk for every site), a
    socket and a device node in the home; a directory's place is taken by a FIFO and by a
    link to / at the moment between its stat and its open (the swap done for real, between
    the two calls)."""
    import socket as socketlib
    import stat as statlib

    home = _home(web_root, "fifo.example.com")
    os.mkfifo(home / "public" / "pipe")
    sock = socketlib.socket(socketlib.AF_UNIX)
    try:
        sock.bind(str(home / "tmp" / "app.sock"))
        if os.geteuid() == 0:
            os.mknod(home / "tmp" / "null", statlib.S_IFCHR | 0o600, os.makedev(1, 3))
        started = time.monotonic()
        result = _usage(["fifo.example.com"], seconds=5)["fifo.example.com"]
        assert time.monotonic() - started < 5
        assert result["bytes"] == _du(home)
    finally:
        sock.close()

    import unittest.mock

    real_open = os.open
    swapped = home / "public" / "swapped"
    for replace in (os.mkfifo, lambda path: path.symlink_to("/")):
        swapped.mkdir()

        def swap_then_open(path, flags, *args, replace=replace, **kwargs):
            if path == "swapped" and swapped.is_dir() and not swapped.is_symlink():
                swapped.rmdir()
                replace(swapped)  # a FIFO, or a link to /, where the directory was
            return real_open(path, flags, *args, **kwargs)

        with unittest.mock.patch.object(helper.os, "open", swap_then_open):
            started = time.monotonic()
            result = _usage(["fifo.example.com"], seconds=5)["fifo.example.com"]
        assert time.monotonic() - started < 5
        assert 0 < result["bytes"] < 1_000_000, result  # / was not walked
        assert not swapped.is_dir() or swapped.is_symlink()  # the swap really happened
        swapped.unlink()
