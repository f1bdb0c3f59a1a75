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
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test.utils import override_settings

FPM_CONF = """\
[global]
pid = {dir}/fpm.pid
error_log = {dir}/fpm.log
daemonize = no
; A reload (a new site's pool) lets running requests of every pool finish (docs/operations.md).
process_control_timeout = 10s
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


def find_binary() -> str | None:
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


@dataclass
class PhpFpmService:
    dir: Path
    binary: str
    proc: subprocess.Popen

    @property
    def sock(self) -> Path:
        return self.dir / "php.sock"

    @property
    def conf(self) -> Path:
        return self.dir / "fpm.conf"

    @property
    def settings(self) -> dict[str, str]:
        """The panel settings that point at this php-fpm."""
        return {
            "NUSANTARA_PHP_FPM_SOCKET": str(self.sock),
            "NUSANTARA_PHP_FPM_POOL_DIR": str(self.dir / "pools"),
            "NUSANTARA_PHP_FPM_SOCKET_DIR": str(self.dir / "sockets"),
            "NUSANTARA_PHP_FPM_TEST_CMD": f"{self.binary} -t -y {self.conf}",
            "NUSANTARA_PHP_FPM_RELOAD_CMD": f"kill -USR2 {self.proc.pid}",
        }


def start_phpfpm(base: Path, binary: str) -> PhpFpmService:
    """Start a private php-fpm master in `base` (created); RuntimeError if it does not start."""
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    (base / "fpm.conf").write_text(FPM_CONF.format(dir=base, group=_group()))
    for sub in ("pools", "sockets"):
        (base / sub).mkdir(mode=0o755, exist_ok=True)
    proc = subprocess.Popen(
        [binary, "-R", "-F", "-y", str(base / "fpm.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    svc = PhpFpmService(dir=base, binary=binary, proc=proc)
    deadline = time.monotonic() + 10
    while not svc.sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            log = (base / "fpm.log").read_text() if (base / "fpm.log").exists() else ""
            proc.kill()
            proc.wait(timeout=5)
            raise RuntimeError(f"php-fpm did not start: {log}")
        time.sleep(0.05)
    return svc


def stop_phpfpm(svc: PhpFpmService) -> None:
    svc.proc.send_signal(signal.SIGQUIT)
    try:
        svc.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        svc.proc.kill()
        svc.proc.wait(timeout=5)


@pytest.fixture(scope="session")
def phpfpm():
    """A running php-fpm; NUSANTARA_PHP_FPM_SOCKET points at its socket for the session."""
    binary = find_binary()
    from tests.conftest import require  # here: bench/tenancy.py imports this module early

    require(binary is not None, "php-fpm is not installed (apt-get install php-fpm)")
    base = Path(tempfile.mkdtemp(prefix="np-fpm-"))
    try:
        svc = start_phpfpm(base, binary)
    except RuntimeError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(str(exc))
    override = override_settings(**svc.settings)
    override.enable()
    try:
        yield svc.sock
    finally:
        override.disable()
        stop_phpfpm(svc)
        shutil.rmtree(base, ignore_errors=True)
