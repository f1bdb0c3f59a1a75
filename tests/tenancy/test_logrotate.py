"""The shipped logrotate policy for the sites' logs is valid and does what operations.md says
(checked by logrotate itself in debug mode: it changes nothing)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "logrotate" / "nusantara-sites"


def test_logrotate_accepts_the_policy_and_rotates_every_sites_logs(tmp_path):
    require(shutil.which("logrotate") is not None, "logrotate is not installed")
    web_root = tmp_path / "www"
    logs = web_root / "one.example" / "logs"
    logs.mkdir(parents=True)
    logs.chmod(0o750)
    for name in ("access.log", "error.log"):
        (logs / name).write_text("a line\n")
    config = tmp_path / "nusantara-sites"
    config.write_text(CONFIG.read_text().replace("/srv/www/", f"{web_root}/"))
    config.chmod(0o644)
    res = subprocess.run(
        ["logrotate", "-d", "-f", "-s", str(tmp_path / "state"), str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "error:" not in out and "skipping" not in out, out
    for name in ("access.log", "error.log"):
        assert f"renaming {logs / name} to {logs / name}.1" in out, out
    assert "rotating pattern" in out and "14 rotations" in out, out
    assert "running postrotate script" in out, out
    assert (logs / "access.log").read_text() == "a line\n"  # -d changes nothing
