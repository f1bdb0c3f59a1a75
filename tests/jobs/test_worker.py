"""The real qcluster worker runs site jobs queued by the services."""

from __future__ import annotations

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.sites.models import Site, SiteStatus
from panel.sites.services import site_create, site_delete


def test_worker_provisions_and_deletes_a_site(worker, owner):
    site = site_create(user=owner, domain="worker.example", runtime="static")
    job = worker.wait_for_job(Job.objects.get(site_id=site.pk))
    assert job.status == "success", job.error_message
    assert job.started_at and job.finished_at and job.started_at <= job.finished_at
    site.refresh_from_db()
    assert site.status == SiteStatus.ACTIVE
    job = worker.wait_for_job(site_delete(user=owner, site=site))
    assert job.status == "success", job.error_message
    assert not Site.objects.filter(pk=site.pk).exists()
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"site.create", "site.provisioned", "site.delete", "site.deleted"} <= actions
