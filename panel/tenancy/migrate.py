"""Queue the `site.migrate_home` job for every site created before tenancy (no system user
yet, or still an old-style root_path). Used by `manage.py tenancy_migrate` and `nginx_resync`."""

from __future__ import annotations

from django.db import transaction

from panel.jobs.models import Job, JobStatus
from panel.jobs.services import JobBusy, job_create
from panel.jobs.types import JobType
from panel.sites.models import Site, SiteStatus

from . import homes


def pending_sites() -> list[Site]:
    sites = Site.objects.filter(status__in=[SiteStatus.ACTIVE, SiteStatus.FAILED]).order_by(
        "domain"
    )
    return [s for s in sites if not s.system_user or not homes.has_home_layout(s)]


def queue_migrations() -> tuple[list[Job], list[str]]:
    """(jobs queued, domains skipped because another job of theirs is active)."""
    queued, busy = [], []
    for site in pending_sites():
        active = Job.objects.filter(
            site_id=site.pk,
            type=JobType.SITE_MIGRATE_HOME,
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        )
        if active.exists():
            continue
        try:
            with transaction.atomic():
                Site.objects.select_for_update().get(pk=site.pk)
                queued.append(
                    job_create(
                        type=JobType.SITE_MIGRATE_HOME,
                        payload={"domain": site.domain},
                        site_id=site.pk,
                    )
                )
        except JobBusy:
            busy.append(site.domain)
    return queued, busy
