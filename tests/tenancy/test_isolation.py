"""Two customers' PHP sites through the real worker, nginx and php-fpm: each runs as its own
user, neither can read the other's files, the panel's data dir, key files or /etc/shadow, and
deleting one removes everything of it and nothing of the other."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from panel.jobs.models import Job
from panel.sites.models import Site, SiteStatus
from panel.sites.services import site_create, site_delete
from tests.factories import UserFactory

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="isolation needs root")

SNOOP = """<?php
foreach ([{targets}] as $name => $path) {{
    $read = @file_get_contents($path);
    $list = @scandir($path);
    echo $name, ' read=', ($read === false ? 'no' : 'YES');
    echo ' list=', ($list === false ? 'no' : 'YES'), "\\n";
}}
echo 'user=', posix_getpwuid(posix_geteuid())['name'], "\\n";
"""


def _job(site: Site) -> Job:
    return Job.objects.filter(site_id=site.pk).order_by("-created_at").first()


def _snoop(site: Site, targets: dict[str, str]) -> None:
    body = ", ".join(f"'{k}' => '{v}'" for k, v in targets.items())
    path = Path(site.root_path) / "snoop.php"
    path.write_text(SNOOP.format(targets=body))
    path.chmod(0o644)


def test_two_customers_php_sites_are_isolated_and_deleted_alone(worker, nginx, settings):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    a = site_create(user=alice, domain="alice.tenancy.example", runtime="php")
    b = site_create(user=bob, domain="bob.tenancy.example", runtime="php")
    for site in (a, b):
        job = worker.wait_for_job(_job(site))
        assert job.status == "success", job.error_message
        assert any(f"PHP ran as {site.system_user}" in line["msg"] for line in job.log)
        site.refresh_from_db()
        assert site.status == SiteStatus.ACTIVE
        assert "6 * 7 = 42" in nginx.wait_for(site.domain, text="6 * 7 = 42").body
        entry = pwd.getpwnam(site.system_user)
        home = settings.NUSANTARA_WEB_ROOT / site.domain
        assert Path(site.root_path) == home / "public"
        assert entry.pw_dir == str(home)
        public = (home / "public").stat()
        assert (public.st_uid, public.st_gid) == (entry.pw_uid, grp.getgrnam("nogroup").gr_gid)
        assert public.st_mode & 0o007 == 0  # never world readable
        assert (home / "logs" / "access.log").exists()
        assert not list((home / "public").glob("np-probe-*"))  # the probe cleaned up

    key = settings.NUSANTARA_CERT_DIR / "somewhere.example" / "privkey.pem"
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key.write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
    key.chmod(0o600)
    data = settings.NUSANTARA_DATA_DIR
    for me, other in ((a, b), (b, a)):
        other_public = Path(other.root_path)
        targets = {
            "other_public": str(other_public),
            "other_index": str(other_public / "index.php"),
            "data_dir": str(data),
            "cert_key": str(key),
            "shadow": "/etc/shadow",
        }
        _snoop(me, targets)
        body = nginx.wait_for(me.domain, "/snoop.php", text="user=").body
        assert f"user={me.system_user}" in body
        for name in targets:
            assert f"{name} read=no list=no" in body, body
        # The file system itself says no, not only PHP's open_basedir.
        for path in (other_public / "index.php", key, Path("/etc/shadow")):
            res = subprocess.run(
                ["runuser", "-u", me.system_user, "--", "cat", str(path)],
                capture_output=True,
                check=False,
            )
            assert res.returncode != 0, path
        res = subprocess.run(
            ["runuser", "-u", me.system_user, "--", "ls", str(data)],
            capture_output=True,
            check=False,
        )
        assert res.returncode != 0

    job = worker.wait_for_job(site_delete(user=alice, site=a))
    assert job.status == "success", job.error_message
    assert not Site.objects.filter(pk=a.pk).exists()
    assert not (settings.NUSANTARA_WEB_ROOT / a.domain).exists()
    assert not (Path(settings.NUSANTARA_PHP_FPM_POOL_DIR) / f"{a.domain}.conf").exists()
    with pytest.raises(KeyError):
        pwd.getpwnam(a.system_user)
    # Bob's site is untouched and still serves PHP as bob's user.
    assert pwd.getpwnam(b.system_user)
    assert (Path(settings.NUSANTARA_PHP_FPM_POOL_DIR) / f"{b.domain}.conf").exists()
    who = f"user={b.system_user}"
    assert who in nginx.wait_for(b.domain, "/snoop.php", text=who).body


def test_a_php_site_whose_pool_php_fpm_never_loads_fails_and_is_not_active(
    worker_manager, transactional_db, nginx, phpfpm, settings, owner
):
    from tests.services.tenancy import reset_tenancy
    from tests.services.worker import worker_env

    # php-fpm is "not running" for this site: the pool is written but never loaded.
    settings.NUSANTARA_PHP_FPM_RELOAD_CMD = "true"
    settings.NUSANTARA_PROBE_TIMEOUT = 8
    worker = worker_manager.ensure(worker_env())
    try:
        site = site_create(user=owner, domain="nofpm.tenancy.example", runtime="php")
        job = worker.wait_for_job(_job(site), timeout=60)
        assert job.status == "failed"
        assert "php-fpm is not running for this site (no socket at" in job.error_message
        assert site.system_user in job.error_message
        site.refresh_from_db()
        assert site.status == SiteStatus.FAILED
    finally:
        reset_tenancy()


def _as_user(site: Site, *argv: str) -> None:
    subprocess.run(["runuser", "-u", site.system_user, "--", *argv], check=True)


def test_nginx_never_follows_a_customers_link_into_another_site(worker, nginx, settings):
    """nginx's workers may read every public/ (its group): a link a customer plants (over SFTP,
    from PHP) to another site's file or to /etc is refused, a link to its own file still works."""
    bob, mallory = UserFactory(username="bob"), UserFactory(username="mallory")
    b = site_create(user=bob, domain="bob.links.example", runtime="static")
    m = site_create(user=mallory, domain="mallory.links.example", runtime="static")
    for site in (b, m):
        assert worker.wait_for_job(_job(site)).status == "success"
        site.refresh_from_db()
    secret = Path(b.root_path) / "secret.txt"
    _as_user(b, "sh", "-c", f"echo bob-s3cret > {secret} && chmod 0644 {secret}")
    mine = Path(m.root_path) / "mine.txt"
    _as_user(m, "sh", "-c", f"echo mallory-own > {mine}")
    pub = m.root_path
    _as_user(m, "ln", "-s", str(secret), f"{pub}/steal.txt")
    _as_user(m, "ln", "-s", b.root_path, f"{pub}/bobdir")
    _as_user(m, "ln", "-s", "/etc/passwd", f"{pub}/passwd.txt")
    _as_user(m, "ln", "-s", str(mine), f"{pub}/alias.txt")
    assert "mallory-own" in nginx.wait_for(m.domain, "/alias.txt").body
    for path in ("/steal.txt", "/bobdir/secret.txt", "/passwd.txt"):
        response = nginx.get(m.domain, path)
        # Refused (try_files then finds no file it may serve: 404; a plain location: 403).
        assert response.status in (403, 404), (path, response.status, response.body[:200])
        assert "bob-s3cret" not in response.body and "root:" not in response.body


def test_deleting_a_site_ends_every_process_of_its_user(worker, nginx, settings):
    """A customer's background process must not outlive the site: Linux hands the freed uid to
    the next site user, whose files the process could then write."""
    owner = UserFactory(username="lingerer")
    site = site_create(user=owner, domain="linger.tenancy.example", runtime="static")
    assert worker.wait_for_job(_job(site)).status == "success"
    site.refresh_from_db()
    uid = pwd.getpwnam(site.system_user).pw_uid
    subprocess.Popen(
        [
            "runuser",
            "-u",
            site.system_user,
            "--",
            "setsid",
            "sh",
            "-c",
            "while :; do sleep 1; done",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = __import__("time").monotonic() + 10
    while not subprocess.run(["pgrep", "-U", str(uid)], capture_output=True).stdout:
        assert __import__("time").monotonic() < deadline, "the background loop did not start"
    job = site_delete(user=owner, site=site)
    assert worker.wait_for_job(job).status == "success"
    left = subprocess.run(["pgrep", "-U", str(uid)], capture_output=True, text=True).stdout
    assert left == "", f"processes of the deleted site's uid {uid} still run: {left}"
