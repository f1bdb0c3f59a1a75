"""End to end through the real worker, nginx and php-fpm: sites go live, fail alone, go away."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.jobs.services import job_create
from panel.sites import nginx as ngx
from panel.sites.models import Site, SiteStatus
from panel.sites.services import site_create, site_delete, site_suspend, site_update


def _job(site: Site) -> Job:
    return Job.objects.filter(site_id=site.pk).order_by("-created_at").first()


def test_static_php_and_proxy_sites_are_served(worker, nginx, owner, upstream):
    static = site_create(user=owner, domain="static.e2e.example", runtime="static")
    php = site_create(user=owner, domain="php.e2e.example", runtime="php")
    proxy = site_create(user=owner, domain="proxy.e2e.example", runtime="proxy", upstream=upstream)
    for site in (static, php, proxy):
        job = worker.wait_for_job(_job(site))
        assert job.status == "success", job.error_message
        assert job.started_at <= job.finished_at
        site.refresh_from_db()
        assert site.status == SiteStatus.ACTIVE
    assert "<h1>static.e2e.example</h1>" in nginx.wait_for(static.domain).body
    body = nginx.wait_for(php.domain).body
    assert "6 * 7 = 42" in body and "<?php" not in body  # executed, not served as source
    assert nginx.wait_for(proxy.domain).body == "upstream saw host proxy.e2e.example"
    for site in (static, php, proxy):
        actions = set(
            AuditLog.objects.filter(target_id=str(site.pk)).values_list("action", flat=True)
        )
        assert {"site.create", "site.provisioned"} <= actions
    assert any("vhost rendered" in line["msg"] for line in _job(php).log)


def test_deleted_site_leaves_nothing_behind(worker, nginx, owner, settings):
    site = site_create(user=owner, domain="gone.e2e.example", runtime="static")
    assert worker.wait_for_job(_job(site)).status == "success"
    assert nginx.wait_for(site.domain).status == 200
    cert_dir = settings.NUSANTARA_CERT_DIR / site.domain
    cert_dir.mkdir(parents=True)
    (cert_dir / "account-note").write_text("x")
    job = worker.wait_for_job(site_delete(user=owner, site=site))
    assert job.status == "success", job.error_message
    assert not Site.objects.filter(pk=site.pk).exists()
    assert nginx.wait_for(site.domain, status=404).status == 404
    assert not ngx.conf_path(site.domain).exists()
    assert not (settings.NUSANTARA_WEB_ROOT / site.domain).exists()
    assert not cert_dir.exists()
    assert AuditLog.objects.filter(action="site.deleted", target_id=str(site.pk)).exists()


def test_site_nginx_rejects_fails_alone_and_everything_else_keeps_serving(
    worker, nginx, owner, settings
):
    good = site_create(user=owner, domain="survivor.e2e.example", runtime="static")
    assert worker.wait_for_job(_job(good)).status == "success"
    # A certificate that nginx cannot load: `nginx -t` fails for real for this one site.
    fullchain, privkey = ngx.cert_paths("victim.e2e.example")
    fullchain.parent.mkdir(parents=True)
    fullchain.write_text("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    privkey.write_text("broken")
    bad = site_create(user=owner, domain="victim.e2e.example", runtime="static")
    job = worker.wait_for_job(_job(bad))
    assert job.status == "failed"
    assert "cannot load certificate" in job.error_message
    bad.refresh_from_db()
    assert bad.status == SiteStatus.FAILED
    assert AuditLog.objects.filter(action="site.provision_failed", target_id=str(bad.pk)).exists()
    assert nginx.get(good.domain).status == 200
    assert nginx.config_ok()[0]
    assert not ngx.conf_path(bad.domain).exists()
    assert ngx.conf_path(bad.domain).with_name(f"{bad.domain}.conf.err").exists()


def test_runtime_change_goes_live_and_a_refused_one_keeps_the_site_serving(
    worker, nginx, owner, upstream
):
    site = site_create(user=owner, domain="switch.e2e.example", runtime="static")
    assert worker.wait_for_job(_job(site)).status == "success"
    assert "<h1>switch.e2e.example</h1>" in nginx.wait_for(site.domain).body

    job = worker.wait_for_job(
        site_update(user=owner, site=site, runtime="proxy", upstream=upstream)
    )
    assert job.status == "success", job.error_message
    proxied = "upstream saw host switch.e2e.example"
    assert nginx.wait_for(site.domain, text=proxied).body == proxied
    site.refresh_from_db()
    assert (site.runtime, site.upstream, site.status) == ("proxy", upstream, SiteStatus.ACTIVE)
    assert AuditLog.objects.filter(action="site.updated", target_id=str(site.pk)).exists()

    # A name that resolves nowhere is refused when the form is sent...
    gone = "upstream-gone.invalid:8080"
    with pytest.raises(ValidationError, match="does not resolve"):
        site_update(user=owner, site=site, runtime="proxy", upstream=gone)
    # ...and one that stops resolving after the form was sent (DNS changed) is refused by the
    # worker before nginx sees it: the site keeps its working proxy.
    with transaction.atomic():
        changed = job_create(
            type="site.update",
            payload={
                "domain": site.domain,
                "runtime": "proxy",
                "upstream": gone,
                "previous": {"runtime": "proxy", "upstream": upstream, "status": "active"},
            },
            user=owner,
            site_id=site.pk,
        )
    job = worker.wait_for_job(changed)
    assert job.status == "failed"
    assert "does not resolve" in job.error_message and "upstream-gone.invalid" in job.error_message
    site.refresh_from_db()
    assert (site.runtime, site.upstream, site.status) == ("proxy", upstream, SiteStatus.ACTIVE)
    assert nginx.wait_for(site.domain).body == proxied
    assert upstream in ngx.conf_path(site.domain).read_text()
    assert nginx.config_ok()[0]
    assert AuditLog.objects.filter(action="site.update_failed", target_id=str(site.pk)).exists()

    job = worker.wait_for_job(site_update(user=owner, site=site, runtime="php"))
    assert job.status == "success", job.error_message
    # The static site's index.html is kept (the PHP vhost serves it too).
    page = "<h1>switch.e2e.example</h1>"
    assert page in nginx.wait_for(site.domain, text=page).body
    site.refresh_from_db()
    assert (site.runtime, site.upstream) == ("php", None)


def test_suspended_site_answers_503_but_keeps_its_challenge_path_then_resumes(
    worker, nginx, owner, admin_user, settings
):
    site = site_create(user=owner, domain="suspend.e2e.example", runtime="static")
    assert worker.wait_for_job(_job(site)).status == "success"
    page = "<h1>suspend.e2e.example</h1>"
    assert page in nginx.wait_for(site.domain).body

    job = site_suspend(user=admin_user, site=site, suspend=True, reason="Invoice unpaid")
    assert worker.wait_for_job(job).status == "success"
    closed = nginx.wait_for(site.domain, status=503, text="temporarily unavailable")
    assert page not in closed.body
    assert nginx.get(site.domain, "/index.html").status == 503
    token_dir = settings.NUSANTARA_CHALLENGE_DIR / ".well-known" / "acme-challenge"
    token_dir.mkdir(parents=True, exist_ok=True)
    (token_dir / "suspended-token").write_text("still-renewable")
    assert nginx.get(site.domain, "/.well-known/acme-challenge/suspended-token").body == (
        "still-renewable"
    )
    site.refresh_from_db()
    assert site.suspended_at is not None and site.status == SiteStatus.ACTIVE
    assert AuditLog.objects.filter(action="site.suspended", target_id=str(site.pk)).exists()

    job = site_suspend(user=admin_user, site=site, suspend=False)
    assert worker.wait_for_job(job).status == "success"
    assert page in nginx.wait_for(site.domain, text=page).body
    site.refresh_from_db()
    assert site.suspended_at is None
    assert AuditLog.objects.filter(action="site.resumed", target_id=str(site.pk)).exists()
