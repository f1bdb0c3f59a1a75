"""Sites created before tenancy (files directly in <web root>/<domain>, no system user) get
their user and home from `manage.py tenancy_migrate`: nothing lost, served again, PHP as the
site's own user."""

from __future__ import annotations

import io
import os
import pwd
from pathlib import Path

import pytest
from django.core.management import call_command

from panel.jobs.models import Job
from panel.sites import nginx as ngx
from panel.sites.models import Site
from tests.factories import SiteFactory

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="isolation needs root")


def test_old_style_sites_are_moved_into_their_own_homes(worker, nginx, owner, settings):
    old = {}
    for runtime in ("static", "php"):
        site = SiteFactory(
            domain=f"old-{runtime}.tenancy.example", runtime=runtime, created_by=owner
        )
        ngx.ensure_docroot(site)  # the old layout, as the panel made it before tenancy
        (Path(site.root_path) / "about.html").write_text(f"about {runtime}")
        (Path(site.root_path) / "assets").mkdir()
        (Path(site.root_path) / "assets" / "app.css").write_text("body{}")
        ngx.sync_site(site)
        assert site.system_user is None
        old[runtime] = site
    assert "about static" in nginx.wait_for(old["static"].domain, "/about.html").body

    out = io.StringIO()
    call_command("tenancy_migrate", stdout=out)
    assert "2 site(s) queued" in out.getvalue()
    for site in old.values():
        job = worker.wait_for_job(
            Job.objects.get(site_id=site.pk, type="site.migrate_home"), timeout=60
        )
        assert job.status == "success", (job.error_message, job.log)
        site.refresh_from_db()
        home = settings.NUSANTARA_WEB_ROOT / site.domain
        assert site.root_path == str(home / "public")
        assert site.system_user == "np" + site.pk.hex[:10]
        uid = pwd.getpwnam(site.system_user).pw_uid
        assert (home / "public" / "assets" / "app.css").read_text() == "body{}"
        assert (home / "public" / "assets" / "app.css").stat().st_uid == uid
        assert os.stat(home).st_uid == 0
        body = nginx.wait_for(site.domain, "/about.html", text=f"about {site.runtime}").body
        assert body == f"about {site.runtime}"
    assert "6 * 7 = 42" in nginx.wait_for(old["php"].domain, text="42").body
    php_job = Job.objects.get(site_id=old["php"].pk, type="site.migrate_home")
    assert any(f"PHP ran as {old['php'].system_user}" in e["msg"] for e in php_job.log)
    # Run again: nothing left to migrate.
    out = io.StringIO()
    call_command("tenancy_migrate", stdout=out)
    assert "0 site(s) queued" in out.getvalue()
    assert Site.objects.filter(system_user__isnull=True).count() == 0
