"""Unpacking in isolation (no worker): every hostile archive is refused and public/ is exactly
as before; friendly ones land, overwriting files but never replacing a directory silently."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from panel.tenancy import unpack
from tests.tenancy import zips

LIMITS = unpack.Limits(max_entries=100, max_total=50 * 1024 * 1024)
EXPECTED = {
    "traversal": "traversal",
    "absolute": "absolute",
    "backslash": "backslash",
    "drive": "absolute",
    "symlink": "symlink",
    "special": "special",
    "fifo": "special",
    "ratio": "ratio",
    "duplicate": "duplicate",
    "nul": "control_chars",
    "control": "control_chars",
    "lying": "corrupt",
    "clash": "file_dir_clash",
}


@pytest.fixture
def home(tmp_path):
    (tmp_path / "public").mkdir()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "public" / "index.html").write_text("old")
    (tmp_path / "public" / "keep").mkdir()
    return tmp_path


def snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = Path(path).read_bytes() if os.path.isfile(path) else None
            out[os.path.relpath(path, root)] = (st.st_mode, data)
    return out


def run(home, archive=None, files=None, subdir="", limits=LIMITS):
    return unpack.install(
        public=home / "public",
        tmp=home / "tmp",
        subdir=subdir,
        archive=io.BytesIO(archive) if archive is not None else None,
        files=[(n, io.BytesIO(d)) for n, d in files] if files is not None else None,
        limits=limits,
    )


@pytest.mark.parametrize("kind", sorted(zips.HOSTILE))
def test_hostile_archives_are_refused_and_change_nothing(home, kind):
    before = snapshot(home)
    with pytest.raises(unpack.UnpackError) as refused:
        run(home, zips.HOSTILE[kind]())
    assert refused.value.code == EXPECTED[kind]
    assert snapshot(home) == before  # also: nothing left in tmp/
    assert not (home / "escaped.txt").exists()


def test_too_many_entries_and_too_large_are_refused(home):
    before = snapshot(home)
    with pytest.raises(unpack.UnpackError) as refused:
        run(home, zips.too_many(101))
    assert refused.value.code == "too_many"
    small = unpack.Limits(max_entries=100, max_total=1000)
    with pytest.raises(unpack.UnpackError) as refused:
        run(home, zips.make([("a", b"x" * 600), ("b", os.urandom(600))]), limits=small)
    assert refused.value.code == "too_large"
    with pytest.raises(unpack.UnpackError) as refused:
        run(home, files=[("a", b"x" * 600), ("b", b"y" * 600)], limits=small)
    assert refused.value.code == "too_large"
    assert snapshot(home) == before


def test_a_site_unpacks_overwriting_files_into_a_new_subdirectory(home):
    summary = run(home, zips.site())
    assert (home / "public" / "index.html").read_text() == "<h1>unpacked</h1>"
    assert (home / "public" / "css" / "site.css").read_text() == "body { color: teal }"
    assert summary.files == 2 and summary.dirs == 1
    assert oct(os.stat(home / "public" / "css" / "site.css").st_mode & 0o777) == "0o644"
    run(home, zips.site(), subdir="blog/2026")
    assert (home / "public" / "blog" / "2026" / "css" / "site.css").exists()
    run(home, files=[("robots.txt", b"User-agent: *")], subdir="keep")
    assert (home / "public" / "keep" / "robots.txt").read_bytes() == b"User-agent: *"
    assert os.listdir(home / "tmp") == []


def test_a_directory_is_never_replaced_by_a_file_nor_a_file_by_a_directory(home):
    before = snapshot(home)
    with pytest.raises(unpack.UnpackError) as refused:
        run(home, files=[("keep", b"file")])
    assert refused.value.code == "dir_in_way"
    with pytest.raises(unpack.UnpackError) as refused:
        run(home, zips.make([("index.html/x", b"")]))
    assert refused.value.code == "file_in_way"
    assert snapshot(home) == before


def test_planted_symlinks_in_public_are_never_followed(home, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    os.symlink(outside, home / "public" / "css")
    os.symlink(outside, home / "public" / "sub")
    before = snapshot(home)
    with pytest.raises(unpack.UnpackError) as refused:
        run(home, zips.site())
    assert refused.value.code == "symlink_in_public"
    with pytest.raises(unpack.UnpackError) as refused:
        run(home, files=[("x.txt", b"x")], subdir="sub/deeper")
    assert refused.value.code == "symlink_in_public"
    assert snapshot(home) == before and os.listdir(outside) == []
    # A file that is a link is replaced by the file itself, never written through.
    target = outside / "secret"
    target.write_text("secret")
    os.symlink(target, home / "public" / "robots.txt")
    run(home, files=[("robots.txt", b"mine")])
    assert target.read_text() == "secret"
    assert not (home / "public" / "robots.txt").is_symlink()


@pytest.mark.parametrize(
    "subdir", ["../up", "/abs", "a/../b", "a\\b", "a//b", "./a", "a\x00b", "a\nb", "C:/x"]
)
def test_bad_subdirectories_are_refused(home, subdir):
    with pytest.raises(unpack.UnpackError):
        run(home, files=[("x.txt", b"x")], subdir=subdir)


def test_not_a_zip(home):
    with pytest.raises(unpack.UnpackError) as refused:
        run(home, b"this is not a zip")
    assert refused.value.code == "not_zip"


def test_a_central_directory_larger_than_the_entry_limit_allows_is_refused_unparsed(home):
    # 50 entries with long names: within the count, but 512 bytes an entry is the most the
    # central directory may take before zipfile parses it.
    archive = zips.make([(f"{i:03d}" + "n" * 900, b"") for i in range(50)])
    with pytest.raises(unpack.UnpackError) as refused:
        run(home, archive, limits=unpack.Limits(max_entries=60, max_total=1000))
    assert refused.value.code == "too_many"
