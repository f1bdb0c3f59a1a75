"""A private php-fpm for the tests: `php-fpm8.2 -R -F -y <dir>/fpm.conf`, socket in a tmp dir.

The pool runs as `nobody`, so the web root must be world-readable (the panel creates it 0755).
"""

from __future__ import annotations

import grp
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.test.utils import override_settings

from tests.conftest import require

FPM_CONF = """\
[global]
pid = {dir}/fpm.pid
error_log = {dir}/fpm.log
daemonize = no

[nusantara-test]
user = nobody
group = {group}
listen = {dir}/php.sock
listen.mode = 0666
pm = static
pm.max_children = 2
catch_workers_output = yes
"""


def _binary() -> str | None:
    for name in ("php-fpm8.2", "php-fpm", "php-fpm8.3", "php-fpm8.1"):
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if path:
            return path
    return None


def _group() -> str:
    for name in ("nogroup", "nobody"):
        try:
            grp.getgrnam(name)
            return name
        except KeyError:
            continue
    return "nobody"


@pytest.fixture(scope="session")
def phpfpm():
    """A running php-fpm; NUSANTARA_PHP_FPM_SOCKET points at its socket for the session."""
    binary = _binary()
    require(binary is not None, "php-fpm is not installed (apt-get install php-fpm)")
    base = Path(tempfile.mkdtemp(prefix="np-fpm-"))
    base.chmod(0o755)
    (base / "fpm.conf").write_text(FPM_CONF.format(dir=base, group=_group()))
    sock = base / "php.sock"
    proc = subprocess.Popen(
        [binary, "-R", "-F", "-y", str(base / "fpm.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            log = (base / "fpm.log").read_text() if (base / "fpm.log").exists() else ""
            proc.kill()
            pytest.fail(f"php-fpm did not start: {log}")
        time.sleep(0.05)
    override = override_settings(NUSANTARA_PHP_FPM_SOCKET=str(sock))
    override.enable()
    try:
        yield sock
    finally:
        override.disable()
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        shutil.rmtree(base, ignore_errors=True)
