"""Uploaded certificates waiting for the worker: `<data dir>/staged-certs/<job id>/`.

The web process checks an upload and writes the pair here (files 0600, directories 0700); the
`ssl.install` job installs it and removes the directory, whether nginx took it or not.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from .files import FULLCHAIN, PRIVKEY


class NotStaged(Exception):
    """The staged pair is gone (already installed, or removed after a failure)."""


def staging_root() -> Path:
    return Path(settings.NUSANTARA_DATA_DIR) / "staged-certs"


def staged_dir(job_id: Any) -> Path:
    # The job id is a UUID the panel made; str() of it never contains a separator.
    name = str(job_id)
    if not name or "/" in name or name in (".", ".."):
        raise ValueError("bad job id")
    return staging_root() / name


def _write(path: Path, data: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def stage(job_id: Any, fullchain_pem: str, key_pem: str) -> Path:
    root = staging_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    root.chmod(0o700)
    directory = staged_dir(job_id)
    directory.mkdir(mode=0o700)
    _write(directory / FULLCHAIN, fullchain_pem)
    _write(directory / PRIVKEY, key_pem)
    return directory


def load(job_id: Any) -> tuple[str, str]:
    directory = staged_dir(job_id)
    try:
        return (
            (directory / FULLCHAIN).read_text(encoding="utf-8"),
            (directory / PRIVKEY).read_text(encoding="utf-8"),
        )
    except FileNotFoundError:
        raise NotStaged(
            _(
                "The uploaded certificate is no longer waiting to be installed (a failed "
                "attempt removes it). Upload it again."
            )
        )


def discard(job_id: Any) -> None:
    """Remove the staged pair; a missing directory is fine (idempotent)."""
    directory = staged_dir(job_id)
    if directory.exists():
        shutil.rmtree(directory)
