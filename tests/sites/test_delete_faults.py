"""Deleting a site never claims what did not happen: a file that cannot be removed (here made
immutable with `chattr +i`, a real fault) fails the job naming the path, the audit says nothing
of files removed, and a retry after the cause is fixed finishes the job."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import pytest

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.jobs.services import job_retry
from panel.sites import nginx as ngx
from panel.sites.models import Site, SiteStatus
from panel.sites.services import site_create, site_delete
from panel.tenancy import homes
from tests.conftest import require


def _immutable(path: Path) -> None:
    require(shutil.which("chattr") is not None, "chattr is not installed (e2fsprogs)")
    res = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"this filesystem has no immutable flag: {res.stderr.strip()}")


def _mutable(path: Path) -> None:
    with contextlib.suppress(OSError):
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)


def test_a_key_that_cannot_be_removed_fails_the_delete_and_names_it(
    worker, nginx, owner, admin_user, settings
):
    site = site_create(user=owner, domain="stuck-key.e2e.example", runtime="static")
    provision = Job.objects.get(site_id=site.pk)
    assert worker.wait_for_job(provision).status == "success"
    cert_dir = settings.NUSANTARA_CERT_DIR / site.domain
    cert_dir.mkdir(parents=True)
    key = cert_dir / "privkey.pem"
    key.write_text("not really a key")
    key.chmod(0o600)
    _immutable(key)
    try:
        job = worker.wait_for_job(site_delete(user=owner, site=site))
        assert job.status == "failed"
        assert str(key) in job.error_message and "Operation not permitted" in job.error_message
        assert key.exists()
        site.refresh_from_db()
        assert site.status == SiteStatus.FAILED  # still listed, with the job saying why
        actions = list(
            AuditLog.objects.filter(target_id=str(site.pk)).values_list("action", flat=True)
        )
        assert "site.deleted" not in actions and "site.delete_failed" in actions
        assert not any("files removed" in line["msg"] for line in job.log)
    finally:
        _mutable(key)
    # Fixed: the retry converges (what was already removed stays removed).
    job = worker.wait_for_job(job_retry(job=job, user=admin_user))
    assert job.status == "success", job.error_message
    assert not cert_dir.exists()
    assert not Site.objects.filter(pk=site.pk).exists()
    assert not ngx.conf_path(site.domain).exists()
    assert AuditLog.objects.filter(action="site.deleted", target_id=str(site.pk)).exists()


@pytest.mark.django_db
def test_home_removal_without_isolation_names_what_stayed(settings, tmp_path):
    settings.NUSANTARA_ISOLATION = "off"
    settings.NUSANTARA_WEB_ROOT = tmp_path
    home = tmp_path / "stuck-home.example"
    (home / "public").mkdir(parents=True)
    stuck = home / "public" / "index.html"
    stuck.write_text("hello")
    _immutable(stuck)
    try:
        with pytest.raises(ngx.FilesNotRemoved, match=str(stuck)):
            homes.remove("stuck-home.example", None)
        assert stuck.exists()
    finally:
        _mutable(stuck)
    homes.remove("stuck-home.example", None)
    assert not home.exists()
    homes.remove("stuck-home.example", None)  # idempotent: nothing left is fine
