"""A runtime change whose proof fails goes back: the previous vhost (and pool) are put back
and the site keeps serving as before, through the real worker, nginx and php-fpm."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.sites.models import Runtime, SiteStatus
from panel.sites.services import site_create, site_update
from tests.services.worker import worker_env

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="isolation needs root")


def test_static_to_php_whose_pool_never_loads_rolls_back_and_keeps_serving(
    worker, worker_manager, nginx, phpfpm, settings, owner
):
    site = site_create(user=owner, domain="rollback.tenancy.example", runtime="static")
    job = worker.wait_for_job(Job.objects.get(site_id=site.pk, type="site.provision"))
    assert job.status == "success", job.error_message
    site.refresh_from_db()
    public = Path(site.root_path)
    (public / "index.html").write_text("<h1>the customer's own static page</h1>")
    before = nginx.wait_for(site.domain, text="the customer's own static page").body
    vhost = Path(settings.NUSANTARA_NGINX_CONF_DIR) / f"{site.domain}.conf"
    vhost_before = vhost.read_text()
    pool = Path(settings.NUSANTARA_PHP_FPM_POOL_DIR) / f"{site.domain}.conf"
    assert not pool.exists()

    # php-fpm "does not load" the new pool: the pool file is written, the reload does nothing.
    settings.NUSANTARA_PHP_FPM_RELOAD_CMD = "true"
    settings.NUSANTARA_PROBE_TIMEOUT = 8
    worker = worker_manager.ensure(worker_env())
    job = worker.wait_for_job(site_update(user=owner, site=site, runtime="php"), timeout=60)

    assert job.status == "failed"
    assert "php-fpm is not running for this site (no socket at" in job.error_message
    assert "The previous configuration is back in place." in job.error_message
    site.refresh_from_db()
    assert (site.runtime, site.status) == (Runtime.STATIC, SiteStatus.ACTIVE)
    assert vhost.read_text() == vhost_before  # nginx has the static vhost again
    assert not pool.exists()  # and php-fpm no pool for a site that is not PHP
    assert not list(public.glob("np-probe-*"))
    assert nginx.wait_for(site.domain, text="the customer's own static page").body == before
    assert AuditLog.objects.filter(target_id=str(site.pk), action="site.update_failed").exists()
    # The static site is served as static: a PHP file is not executed (nor passed to php-fpm).
    (public / "hello.php").write_text("<?php echo 6 * 7;")
    assert "42" not in nginx.get(site.domain, "/hello.php").body
