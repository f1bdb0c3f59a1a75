"""Deleting a site removes everything the panel put on the machine for it (its SFTP key file,
system user, php-fpm pool, vhost, home with its files and logs) and nothing of another site:
both made as customers make them, through site_create and the real worker (isolation on)."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import paramiko
import pytest

from panel.jobs.models import Job
from panel.sites.models import Site, SiteStatus
from panel.sites.services import site_create, site_delete
from panel.tenancy.sftp import sftp_key_add

from .keygen import ed25519_pair

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="isolation needs root")


def _done(worker, job) -> Job:
    job = worker.wait_for_job(job)
    assert job.status == "success", (job.error_message, job.log[-3:])
    return job


def _snapshot(home: Path) -> dict[str, tuple]:
    """Every file and dir of a home with its owner, mode and (outside logs/) content."""
    seen = {}
    for path in sorted(home.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(home))
        content = None
        if path.is_file() and not rel.startswith("logs/"):  # nginx appends to the logs
            content = path.read_bytes()
        seen[rel] = (st.st_uid, st.st_gid, st.st_mode, content)
    return seen


def test_deleting_a_site_removes_all_of_it_and_nothing_of_another(
    sshd, nginx, worker, owner, settings
):
    sites: list[Site] = []
    pkeys = {}
    for domain in ("gone.delete.example", "stays.delete.example"):
        site = site_create(user=owner, domain=domain, runtime="php")
        _done(worker, Job.objects.get(site_id=site.pk, type="site.provision"))
        site.refresh_from_db()
        assert site.status == SiteStatus.ACTIVE
        pkey, line = ed25519_pair()
        sftp_key_add(user=owner, site=site, public_key=line)
        _done(worker, Job.objects.get(site_id=site.pk, type="sftp.keys"))
        pkeys[domain] = pkey
        # Its access log exists from now on.
        assert "6 * 7 = 42" in nginx.wait_for(domain, text="6 * 7 = 42").body
        sites.append(site)
    gone, stays = sites
    web_root = Path(settings.NUSANTARA_WEB_ROOT)
    pool_dir = Path(settings.NUSANTARA_PHP_FPM_POOL_DIR)
    vhosts = Path(settings.NUSANTARA_NGINX_CONF_DIR)

    def on_disk(site: Site) -> dict[str, Path]:
        return {
            "keys": sshd.keys_dir / site.system_user,
            "pool": pool_dir / f"{site.domain}.conf",
            "vhost": vhosts / f"{site.domain}.conf",
            "home": web_root / site.domain,
            "access log": web_root / site.domain / "logs" / "access.log",
        }

    for site in sites:
        for what, path in on_disk(site).items():
            assert path.exists(), f"{what} of {site.domain} missing before the delete"
    kept = {what: path.read_bytes() for what, path in on_disk(stays).items() if path.is_file()}
    kept_home = _snapshot(web_root / stays.domain)
    kept_user = pwd.getpwnam(stays.system_user)

    _done(worker, site_delete(user=owner, site=gone))

    assert not Site.objects.filter(pk=gone.pk).exists()
    for what, path in on_disk(gone).items():
        assert not path.exists(), f"{what} of the deleted site is still there: {path}"
    with pytest.raises(KeyError):
        pwd.getpwnam(gone.system_user)
    with pytest.raises(KeyError):
        grp.getgrnam(gone.system_user)  # its own group (useradd -U) goes with it
    assert gone.system_user not in grp.getgrnam(sshd.group).gr_mem
    with pytest.raises(paramiko.AuthenticationException):
        _login(sshd, gone.system_user, pkeys[gone.domain])

    # The other site: same user, same key file, pool, vhost and files; still served and open.
    assert pwd.getpwnam(stays.system_user) == kept_user
    for what, content in kept.items():
        if what != "access log":
            assert on_disk(stays)[what].read_bytes() == content, what
    assert _snapshot(web_root / stays.domain) == kept_home
    assert "6 * 7 = 42" in nginx.wait_for(stays.domain, text="6 * 7 = 42").body
    sftp = _login(sshd, stays.system_user, pkeys[stays.domain])
    try:
        assert "index.php" in sftp.listdir("/public")
    finally:
        sftp.close()
    (sshd.keys_dir / stays.system_user).unlink()  # the worker fixture removes users and homes


def _login(sshd, user: str, pkey) -> paramiko.SFTPClient:
    transport = paramiko.Transport(("127.0.0.1", sshd.port))
    try:
        transport.connect(username=user, pkey=pkey)
    except Exception:
        transport.close()
        raise
    return paramiko.SFTPClient.from_transport(transport)
