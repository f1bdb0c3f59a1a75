"""Hostile and friendly zip archives, crafted with `zipfile` (and a few patched bytes)."""

from __future__ import annotations

import io
import stat
import warnings
import zipfile


def make(entries: list[tuple[str, bytes]] | None = None, infos=()) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is the point of one test
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries or []:
                zf.writestr(name, data)
            for info, data in infos:
                zf.writestr(info, data)
    return buf.getvalue()


def site() -> bytes:
    return make(
        [
            ("index.html", b"<h1>unpacked</h1>"),
            ("css/", b""),
            ("css/site.css", b"body { color: teal }"),
        ]
    )


def _typed(name: str, kind: int, data: bytes = b"") -> bytes:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (kind | 0o777) << 16
    return make([("ok.txt", b"fine")], infos=[(info, data)])


def slip() -> bytes:
    return make([("ok.txt", b"fine"), ("../escaped.txt", b"out")])


def absolute() -> bytes:
    return make([("/tmp/absolute.txt", b"out")])


def backslash() -> bytes:
    return make([("..\\escaped.txt", b"out")])


def drive() -> bytes:
    return make([("C:/escaped.txt", b"out")])


def symlink() -> bytes:
    return _typed("link", stat.S_IFLNK, b"/etc/passwd")


def device() -> bytes:
    return _typed("dev", stat.S_IFCHR)


def fifo() -> bytes:
    return _typed("pipe", stat.S_IFIFO)


def bomb(size: int = 20 * 1024 * 1024) -> bytes:
    return make([("ok.txt", b"fine"), ("zeros.bin", bytes(size))])


def too_many(count: int) -> bytes:
    return make([(f"f{i}.txt", b"") for i in range(count)])


def duplicate() -> bytes:
    return make([("a.txt", b"one"), ("a.txt", b"two")])


def nul_name() -> bytes:
    data = make([("ok.txt", b"fine"), ("evilXnul.txt", b"x")])
    return data.replace(b"evilXnul", b"evil\x00nul")


def control_name() -> bytes:
    return make([("bad\x1bname.txt", b"x")])


def lying() -> bytes:
    """An entry whose headers declare 1,000 bytes while it inflates to 2 MiB."""
    real = 2 * 1024 * 1024
    data = bytearray(make([("liar.bin", b"a" * real)]))
    declared = (1000).to_bytes(4, "little")
    local = data.find(b"PK\x03\x04")
    data[local + 22 : local + 26] = declared
    central = data.find(b"PK\x01\x02")
    data[central + 24 : central + 28] = declared
    return bytes(data)


def file_dir_clash() -> bytes:
    return make([("a", b"file"), ("a/b.txt", b"below")])


HOSTILE = {
    "traversal": slip,
    "absolute": absolute,
    "backslash": backslash,
    "drive": drive,
    "symlink": symlink,
    "special": device,
    "fifo": fifo,
    "ratio": bomb,
    "duplicate": duplicate,
    "nul": nul_name,
    "control": control_name,
    "lying": lying,
    "clash": file_dir_clash,
}
