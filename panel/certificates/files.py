"""Certificate files on disk and switching nginx to them, with a way back.

Layout (the contract with panel/sites/nginx.py): `NUSANTARA_CERT_DIR/<domain>/fullchain.pem` and
`privkey.pem`, both 0600 in a 0700 directory. A new pair replaces the old one only together
with a vhost that passed `nginx -t`; otherwise the previous files are put back, so whatever the
site served before keeps serving.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from django.conf import settings

FULLCHAIN = "fullchain.pem"
PRIVKEY = "privkey.pem"


def cert_dir(domain: str) -> Path:
    return Path(settings.NUSANTARA_CERT_DIR) / domain


@dataclass(frozen=True)
class CertInfo:
    serial: str
    not_before: dt.datetime
    expires_at: dt.datetime


def leaf_info(fullchain_pem: str | bytes) -> CertInfo:
    data = fullchain_pem.encode() if isinstance(fullchain_pem, str) else fullchain_pem
    leaf = x509.load_pem_x509_certificates(data)[0]
    return CertInfo(
        serial=format(leaf.serial_number, "x"),
        not_before=leaf.not_valid_before_utc,
        expires_at=leaf.not_valid_after_utc,
    )


def _write_tmp(path: Path, data: str) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


class Installed:
    """New files in place; `restore()` puts the previous pair (or nothing) back."""

    def __init__(self, domain: str, previous: dict[str, bytes | None]) -> None:
        self.domain = domain
        self.previous = previous

    def restore(self) -> None:
        directory = cert_dir(self.domain)
        for name, data in self.previous.items():
            path = directory / name
            if data is None:
                path.unlink(missing_ok=True)
            else:
                tmp = _write_tmp(path, data.decode())
                os.replace(tmp, path)


def install_files(domain: str, fullchain_pem: str, key_pem: str) -> Installed:
    """Write both files atomically (0600, dir 0700) and remember the old ones."""
    directory = cert_dir(domain)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    previous: dict[str, bytes | None] = {}
    for name in (FULLCHAIN, PRIVKEY):
        path = directory / name
        previous[name] = path.read_bytes() if path.exists() else None
    # Both new files are complete on disk before either is renamed in, so a reload by anyone
    # else in between sees at worst one mismatched moment of two renames, never a partial file.
    tmp_chain = _write_tmp(directory / FULLCHAIN, fullchain_pem)
    tmp_key = _write_tmp(directory / PRIVKEY, key_pem)
    os.replace(tmp_key, directory / PRIVKEY)
    os.replace(tmp_chain, directory / FULLCHAIN)
    return Installed(domain, previous)
