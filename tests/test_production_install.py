"""The production install (`uv sync --frozen --no-dev`, as the README, docs/operations.md and the
Dockerfile do it) renders and checks vhosts: the tests otherwise run with the development
packages, which may bring other versions of a module along (gixy-ng's ngxparse replaces
crossplane's files with its own, which had a function crossplane 0.5.8 lacks)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from django.conf import settings

from tests.conftest import require

RENDER_EVERY_RUNTIME = """
import uuid
import django
django.setup()
from panel.sites import nginx
from panel.sites.models import Site
for runtime, upstream in (("static", None), ("php", None), ("proxy", "127.0.0.1:3000")):
    site = Site(pk=uuid.uuid4(), domain=f"{runtime}.prod.example", runtime=runtime,
                upstream=upstream, status="active", root_path=f"/srv/www/{runtime}/public")
    text = nginx.render_vhost(nginx.vhost_context(site))
    assert f"server_name {site.domain};" in text, text
print("rendered 3")
"""


def test_the_production_packages_render_and_check_every_kind_of_vhost(tmp_path: Path) -> None:
    uv = shutil.which("uv") or shutil.which("uv", path=os.path.expanduser("~/.local/bin"))
    require(uv is not None, "uv is not installed (bin/test installs it)")
    assert uv is not None
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    sync = subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--quiet"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert sync.returncode == 0, sync.stderr
    run_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NUSANTARA_")},
        "DJANGO_SETTINGS_MODULE": "nusantara.settings",
        "DEBUG": "True",
        "NUSANTARA_DATA_DIR": str(tmp_path / "data"),
        "NUSANTARA_ISOLATION": "off",
    }
    res = subprocess.run(
        [str(venv / "bin" / "python"), "-c", RENDER_EVERY_RUNTIME],
        cwd=settings.BASE_DIR,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and "rendered 3" in res.stdout, res.stdout + res.stderr
    installed = {p.name.split("-")[0].lower() for p in venv.glob("lib/python*/site-packages/*")}
    assert "ngxparse" not in installed and "pytest" not in installed
