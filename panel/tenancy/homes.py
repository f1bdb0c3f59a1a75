"""A site's home on disk: `<web root>/<domain>/` with `public/` (the document root), `logs/`
and `tmp/`. With isolation on, the root helper creates the site's system user and the home
with the right owners; with isolation off, the panel's own user makes the same layout."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

from panel.sites.models import Runtime, Site

from . import helper, rootcmd


def home_path(domain: str) -> Path:
    return Path(settings.NUSANTARA_WEB_ROOT) / domain


def public_path(domain: str) -> Path:
    return home_path(domain) / "public"


def has_home_layout(site: Site) -> bool:
    """True for a site whose document root is `<home>/public` (every site created since the
    tenancy work, and old ones once `site.migrate_home` ran)."""
    return site.root_path == str(public_path(site.domain))


def logs_dir(site: Site) -> Path | None:
    return home_path(site.domain) / "logs" if has_home_layout(site) else None


def php_socket(site: Site) -> str:
    """The php-fpm socket nginx passes this site's PHP to."""
    if rootcmd.isolation_enabled() and site.system_user and has_home_layout(site):
        return f"{settings.NUSANTARA_PHP_FPM_SOCKET_DIR}/{site.system_user}.sock"
    return settings.NUSANTARA_PHP_FPM_SOCKET


def isolated(site: Site) -> bool:
    return rootcmd.isolation_enabled() and bool(site.system_user)


def prepare(site: Site) -> Path:
    """The site's user and home, with a default index page unless it has one. Idempotent."""
    public = public_path(site.domain)
    if isolated(site):
        assert site.system_user  # isolated() says so
        rootcmd.run("user-create", site.system_user, site.domain)
        rootcmd.run("home-setup", site.system_user, site.domain)
        if site.runtime in (Runtime.STATIC, Runtime.PHP):
            rootcmd.run("default-page", site.system_user, site.domain, str(site.runtime))
        return public
    home = home_path(site.domain)
    home.parent.mkdir(parents=True, exist_ok=True)
    for path, mode in (
        (home, 0o755),
        (public, 0o755),
        (home / "logs", 0o755),
        (home / "tmp", 0o700),
    ):
        if path.is_symlink():
            raise rootcmd.HelperError(f"refused: {path} is a symbolic link")
        path.mkdir(exist_ok=True)
        path.chmod(mode)
    page = helper.INDEX_PAGES.get(str(site.runtime))
    if page and not any(
        (public / name).exists() for name in ("index.html", "index.htm", "index.php")
    ):
        name, body = page
        tmp = public / f".{name}.tmp"
        tmp.write_text(body.format(domain=site.domain))
        tmp.chmod(0o644)
        os.replace(tmp, public / name)
    return public


def remove(domain: str, system_user: str | None) -> None:
    """Remove the site's home (files and logs) and its system user."""
    if rootcmd.isolation_enabled() and system_user:
        rootcmd.run("home-remove", system_user, domain)
        rootcmd.run("keys-write", system_user, stdin="")  # no key: its SFTP key file goes
        rootcmd.run("user-delete", system_user, domain)
        return
    from panel.sites.nginx import remove_tree

    # FilesNotRemoved names what stayed; a missing home is fine (a retry after the fix).
    remove_tree(home_path(domain))
