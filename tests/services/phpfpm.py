"""A private php-fpm for the tests: `php-fpm8.2 -R -F -y <dir>/fpm.conf`, as in production: a
master that includes `<dir>/pools/*.conf` (one pool per PHP site, written by the root helper)
plus one idle pool of its own (the master refuses to start without a pool). The idle pool is also
the shared pool `NUSANTARA_PHP_FPM_SOCKET` of isolation-off mode. Reload: `kill -USR2 <pid>`.
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
include = {dir}/pools/*.conf

[nusantara-idle]
user = nobody
group = {group}
listen = {dir}/php.sock
listen.mode = 0666
pm = ondemand
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
    for sub in ("pools", "sockets"):
        (base / sub).mkdir(mode=0o755)
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
    override = override_settings(
        NUSANTARA_PHP_FPM_SOCKET=str(sock),
        NUSANTARA_PHP_FPM_POOL_DIR=str(base / "pools"),
        NUSANTARA_PHP_FPM_SOCKET_DIR=str(base / "sockets"),
        NUSANTARA_PHP_FPM_TEST_CMD=f"{binary} -t -y {base}/fpm.conf",
        NUSANTARA_PHP_FPM_RELOAD_CMD=f"kill -USR2 {proc.pid}",
    )
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
