"""The root helper's client: `run(verb, *args, stdin=None)` (STAND-IN of the ten-sftp lane
with ten-core's interface, until ten-core's client is merged).

As root the verb runs in-process with a config built from Django settings; otherwise through
NUSANTARA_HELPER_CMD (e.g. `sudo -n /opt/nusantara/bin/nusantara-helper`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import Any

from django.conf import settings

from . import helper
from .helper import HelperError

__all__ = ["HelperError", "helper_config", "run"]


def helper_config() -> dict[str, Any]:
    return helper.check_config(
        {
            "web_root": str(settings.NUSANTARA_WEB_ROOT),
            "sftp_group": settings.NUSANTARA_SFTP_GROUP,
            "keys_dir": str(settings.NUSANTARA_SSH_KEYS_DIR),
        }
    )


def run(verb: str, *args: str, stdin: str | None = None) -> str:
    """Run one helper verb as root; returns its output, raises HelperError with its message."""
    if os.geteuid() == 0:
        try:
            return helper.call(helper_config(), verb, list(args), stdin)
        except OSError as exc:
            raise HelperError(f"{verb}: {exc}") from exc
    command = shlex.split(getattr(settings, "NUSANTARA_HELPER_CMD", ""))
    if not command:
        raise HelperError(
            "This step needs root: run the worker as root or set NUSANTARA_HELPER_CMD."
        )
    try:
        res = subprocess.run(
            [*command, verb, *args],
            input=stdin or "",
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HelperError(f"the root helper could not run: {exc}") from exc
    if res.returncode != 0:
        message = res.stderr.strip().removeprefix("nusantara-helper: ")
        raise HelperError(message or f"the root helper failed with status {res.returncode}")
    return res.stdout.strip()
