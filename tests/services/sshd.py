"""A private sshd for the SFTP tests, running the Match block the project ships.

`sshd -D -f <conf> -E <log>` on a free loopback port with its own host key. Its config is a small
main part (port, host key, `UsePAM yes`, passwords off for everyone else, `Subsystem sftp
internal-sftp`) followed by deploy/sshd/nusantara-sftp.conf as shipped, with only the group name
and the keys directory replaced by the test's: what runs here is what an operator installs.

sshd checks that every component of a chroot path and of an AuthorizedKeysFile path outside the
home belongs to root and is writable by nobody else, so /tmp (1777) cannot hold either: the
fixture works under /srv/np-test-<random>/ (root:root 0755) and removes it, its group and its
process at the end. Needs root (it creates a group; sshd must run as root to chroot).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services.nginx import free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "sshd" / "nusantara-sftp.conf"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
DEFAULT_GROUP = "nusantara-sftp"
DEFAULT_KEYS_DIR = "/etc/nusantara/ssh-keys"

MAIN_CONF = """\
# Private sshd of the test suite (tests/services/sshd.py).
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_ed25519_key
PidFile {dir}/sshd.pid
UsePAM yes
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes yes
LogLevel VERBOSE
Subsystem sftp internal-sftp

"""


def render_match_block(group: str, keys_dir: str) -> str:
    """The shipped deploy/sshd/nusantara-sftp.conf with the group and keys dir replaced."""
    text = SHIPPED.read_text()
    for default, value in (
        (f"Match Group {DEFAULT_GROUP}", f"Match Group {group}"),
        (f"AuthorizedKeysFile {DEFAULT_KEYS_DIR}/%u", f"AuthorizedKeysFile {keys_dir}/%u"),
    ):
        if text.count(default) != 1:
            raise AssertionError(f"{SHIPPED} must contain {default!r} exactly once")
        text = text.replace(default, value)
    return text


@dataclass
class SshdService:
    base: Path  # /srv/np-test-<random>: root:root 0755, holds the web root and the keys dir
    dir: Path  # sshd's own files: config, host key, pid, log
    port: int
    group: str
    keys_dir: Path
    web_root: Path
    proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.dir / "sshd.log"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    @property
    def settings(self) -> dict[str, object]:
        return {
            "NUSANTARA_SFTP_GROUP": self.group,
            "NUSANTARA_SSH_KEYS_DIR": str(self.keys_dir),
            "NUSANTARA_WEB_ROOT": self.web_root,
            "NUSANTARA_SFTP_HOST": "127.0.0.1",
            "NUSANTARA_SFTP_PORT": self.port,
        }


def start_sshd(base: Path) -> SshdService:
    svc = SshdService(
        base=base,
        dir=base / "sshd",
        port=free_port(),
        group="npt" + secrets.token_hex(4),
        keys_dir=base / "ssh-keys",
        web_root=base / "www",
    )
    for path in (base, svc.dir, svc.keys_dir, svc.web_root):
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, 0, 0)
        path.chmod(0o755)
    subprocess.run(["groupadd", svc.group], check=True, capture_output=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(svc.dir / "host_ed25519_key")],
        check=True,
        capture_output=True,
    )
    conf = svc.dir / "sshd_config"
    conf.write_text(
        MAIN_CONF.format(port=svc.port, dir=svc.dir)
        + render_match_block(svc.group, str(svc.keys_dir))
    )
    check = subprocess.run([SSHD, "-t", "-f", str(conf)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"sshd -t refused the config: {check.stderr}")
    svc.proc = subprocess.Popen(
        [SSHD, "-D", "-f", str(conf), "-E", str(svc.log_path)], start_new_session=True
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", svc.port), timeout=0.2).close()
            return svc
        except OSError:
            if svc.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {svc.log_tail()}")
            time.sleep(0.05)


def stop_sshd(svc: SshdService) -> None:
    if svc.proc and svc.proc.poll() is None:
        svc.proc.send_signal(signal.SIGTERM)
        try:
            svc.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(svc.proc.pid, signal.SIGKILL)
            svc.proc.wait(timeout=5)
    subprocess.run(["groupdel", svc.group], capture_output=True)


@pytest.fixture(scope="session")
def sshd():
    """A private sshd running the shipped SFTP Match block (see the module docstring)."""
    from tests.conftest import require

    require(os.path.exists(SSHD), "sshd is not installed (apt-get install openssh-server)")
    require(os.geteuid() == 0, "the SFTP tests need root (system users, chroot)")
    Path("/srv").mkdir(mode=0o755, exist_ok=True)
    base = Path("/srv") / f"np-test-{secrets.token_hex(6)}"
    svc = start_sshd(base)
    try:
        yield svc
    finally:
        stop_sshd(svc)
        shutil.rmtree(base, ignore_errors=True)
