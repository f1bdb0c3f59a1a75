"""Clean-up of what tenancy puts on the machine in tests: the sites' system users (made by the
panel: GECOS marker, home under the test web root), their homes and php-fpm pools."""

from __future__ import annotations

import contextlib
import pwd
import shutil
import subprocess
from pathlib import Path

from django.conf import settings

from panel.tenancy.helper import GECOS_PREFIX


def site_users(web_root: Path) -> list[str]:
    root = str(web_root).rstrip("/") + "/"
    return [
        p.pw_name
        for p in pwd.getpwall()
        if p.pw_gecos.startswith(GECOS_PREFIX) and p.pw_dir.startswith(root)
    ]


def remove_site_users(web_root: Path, group: str | None = None) -> None:
    for name in site_users(web_root):
        subprocess.run(["userdel", "-f", name], capture_output=True, check=False)
    if group:
        subprocess.run(["groupdel", group], capture_output=True, check=False)


def reset_tenancy() -> None:
    """After a test with the worker: no site user, home or pool of it survives into the next."""
    web_root = Path(settings.NUSANTARA_WEB_ROOT)
    pool_dir = Path(settings.NUSANTARA_PHP_FPM_POOL_DIR)
    pools = list(pool_dir.glob("*.conf")) if pool_dir.is_dir() else []
    for pool in pools:
        pool.unlink()
    if pools and settings.NUSANTARA_PHP_FPM_RELOAD_CMD:
        subprocess.run(settings.NUSANTARA_PHP_FPM_RELOAD_CMD.split(), check=False)
    remove_site_users(web_root)
    # The vhosts of those sites write their logs into the homes: they go first.
    conf_dir = Path(settings.NUSANTARA_NGINX_CONF_DIR)
    vhosts = list(conf_dir.glob("*.conf")) if conf_dir.is_dir() else []
    for vhost in vhosts:
        vhost.unlink()
    if vhosts and settings.NUSANTARA_NGINX_RELOAD_CMD:
        subprocess.run(settings.NUSANTARA_NGINX_RELOAD_CMD.split(), check=False)
    if web_root.is_dir():
        for home in web_root.iterdir():
            with contextlib.suppress(OSError):
                if home.is_symlink() or not home.is_dir():
                    home.unlink()
                else:
                    shutil.rmtree(home)
