"""Job handlers for sites: `site.provision` and `site.delete`, run by the django-q2 worker."""

from __future__ import annotations

from django.db import transaction

from panel.audit.services import audit_record
from panel.jobs.models import Job
from panel.jobs.runner import JobFailed, job_log, register

from .models import Site, SiteStatus


def _site_failed(job: Job, message: str) -> None:
    Site.objects.filter(pk=job.site_id).update(status=SiteStatus.FAILED)
    action = "site.provision_failed" if job.type == "site.provision" else "site.delete_failed"
    audit_record(
        actor=None,
        action=action,
        target_type="site",
        target_id=job.site_id,
        metadata={"domain": job.payload.get("domain"), "job_id": str(job.pk), "error": message},
    )


def _back_to(status: str):
    def on_retry(job: Job) -> None:
        Site.objects.filter(pk=job.site_id).update(status=status)

    return on_retry


@register(
    "site.provision",
    on_failure=_site_failed,
    on_retry=_back_to(SiteStatus.PROVISIONING),
)
def provision(job: Job) -> None:
    site = Site.objects.filter(pk=job.site_id).first()
    if site is None:
        raise JobFailed("The site no longer exists.")
    job_log(job, f"provisioning {site.domain} ({site.runtime})")
    with transaction.atomic():
        Site.objects.filter(pk=site.pk).update(status=SiteStatus.ACTIVE)
        audit_record(
            actor=None,
            action="site.provisioned",
            target=site,
            metadata={"domain": site.domain, "job_id": str(job.pk)},
        )


@register("site.delete", on_failure=_site_failed, on_retry=_back_to(SiteStatus.DELETING))
def delete(job: Job) -> None:
    domain = job.payload.get("domain", "")
    job_log(job, f"deleting {domain}")
    with transaction.atomic():
        Site.objects.filter(pk=job.site_id).delete()
        audit_record(
            actor=None,
            action="site.deleted",
            target_type="site",
            target_id=job.site_id,
            metadata={"domain": domain, "job_id": str(job.pk)},
        )
