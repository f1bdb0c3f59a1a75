"""The root helper's client: `run(verb, *args, stdin=None)`.

When the process is root (a worker started as root, the tests) the verb runs in-process with a
config built from Django settings; otherwise through NUSANTARA_HELPER_CMD (e.g.
`sudo -n /usr/local/lib/nusantara/nusantara-helper`), which reads the same config from its
root-owned JSON file (`manage.py helper_config` writes it). Either way the helper validates every
argument.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings

from . import helper
from .helper import HelperError

__all__ = ["HelperError", "helper_config", "isolation_enabled", "run", "site_user_name"]


def isolation_enabled() -> bool:
    """NUSANTARA_ISOLATION: on/off, or auto = on as root or with the helper configured."""
    mode = settings.NUSANTARA_ISOLATION
    if mode == "auto":
        return os.geteuid() == 0 or bool(settings.NUSANTARA_HELPER_CMD.strip())
    return mode == "on"


def site_user_name(site_id: Any) -> str:
    """A site's system user: deterministic from its id, `np` + 10 hex digits."""
    return "np" + site_id.hex[:10]


def _php_size(value: str) -> str:
    # NUSANTARA_MAX_BODY_SIZE is nginx's spelling (64m); php.ini wants 64M.
    return value.upper()


def helper_config() -> dict[str, Any]:
    """The helper's configuration from Django settings (checked like the JSON file is)."""
    return helper.check_config(
        {
            "web_root": str(settings.NUSANTARA_WEB_ROOT),
            "nginx_group": settings.NUSANTARA_NGINX_GROUP,
            "sftp_group": settings.NUSANTARA_SFTP_GROUP,
            "pool_dir": str(settings.NUSANTARA_PHP_FPM_POOL_DIR),
            "socket_dir": str(settings.NUSANTARA_PHP_FPM_SOCKET_DIR),
            "keys_dir": str(settings.NUSANTARA_SSH_KEYS_DIR),
            "fpm_test_cmd": settings.NUSANTARA_PHP_FPM_TEST_CMD,
            "fpm_reload_cmd": settings.NUSANTARA_PHP_FPM_RELOAD_CMD,
            "php_max_children": settings.NUSANTARA_PHP_MAX_CHILDREN,
            "php_idle_timeout": 10,
            "php_request_timeout": settings.NUSANTARA_PHP_MAX_EXECUTION_TIME + 30,
            "php_memory_limit": settings.NUSANTARA_PHP_MEMORY_LIMIT,
            "php_max_execution_time": settings.NUSANTARA_PHP_MAX_EXECUTION_TIME,
            "php_upload_max_filesize": _php_size(settings.NUSANTARA_MAX_BODY_SIZE),
            "php_post_max_size": _php_size(settings.NUSANTARA_MAX_BODY_SIZE),
            "uploads_dir": str(Path(settings.NUSANTARA_DATA_DIR) / "uploads"),
            "panel_group": settings.NUSANTARA_PANEL_GROUP,
            "upload_max_entries": settings.NUSANTARA_UPLOAD_MAX_ENTRIES,
            "upload_max_unpacked": settings.NUSANTARA_UPLOAD_MAX_UNPACKED,
        }
    )


# Verbs that fork a child to drop privileges: never fork the (multi-threaded) worker itself, a
# child could inherit a lock another thread held; run the helper as a fresh program instead.
FORKING_VERBS = frozenset({"unpack"})


def run(verb: str, *args: str, stdin: str | None = None) -> str:
    """Run one helper verb as root; returns its output, raises HelperError with its message."""
    if os.geteuid() == 0 and verb in FORKING_VERBS:
        return _run_as_program(verb, args, stdin)
    if os.geteuid() == 0:
        try:
            return helper.call(helper_config(), verb, list(args), stdin)
        except OSError as exc:
            raise HelperError(f"{verb}: {exc}") from exc
    command = shlex.split(settings.NUSANTARA_HELPER_CMD)
    if not command:
        raise HelperError(
            "Isolation needs root: run the worker as root or set NUSANTARA_HELPER_CMD "
            "(docs/operations.md, 'Isolation'), or set NUSANTARA_ISOLATION=off."
        )
    return _program([*command, verb, *args], stdin)


def _run_as_program(verb: str, args: tuple[str, ...], stdin: str | None) -> str:
    """As root: the helper as its own process, with this process's config in a 0600 file."""
    fd, path = tempfile.mkstemp(prefix="np-helper-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(helper_config(), fh)
        env = {**os.environ, "NUSANTARA_HELPER_CONFIG": path}
        argv = [sys.executable, "-m", "panel.tenancy.helper", verb, *args]
        return _program(argv, stdin, env=env, cwd=str(settings.BASE_DIR))
    finally:
        os.unlink(path)


def _program(
    argv: list[str], stdin: str | None, env: dict[str, str] | None = None, cwd: str | None = None
) -> str:
    try:
        res = subprocess.run(
            argv,
            env=env,
            cwd=cwd,
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
