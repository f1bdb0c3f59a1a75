"""Creating, enqueueing and retrying jobs. Call job_create inside the transaction of the change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.nodes.models import Node

from .limits import rate_check
from .models import ACTIVE_STATUSES, Job, JobStatus
from .types import JobType

TASK = "panel.jobs.runner.run_job"
# Job types whose retry passes the same rate limits as a new request (panel.jobs.limits).
RETRY_LIMITS: dict[str, str] = {
    JobType.SSL_ISSUE: "ssl.request",
    JobType.SSL_RENEW: "ssl.request",
    JobType.SITE_UPDATE: "site.update",
}


# How to lock a site's row (SELECT ... FOR UPDATE) by its id: registered by panel.sites in its
# AppConfig.ready(), as this app builds on no other.
SITE_LOCKS: list[Callable[[Any], None]] = []


class JobBusy(Exception):
    """Another job for the same site is queued or running."""


def enqueue(job_id: Any, queue: str | None = None) -> None:
    """Hand the job to django-q2 (after commit when inside a transaction), on the queue of the
    job's node: only that node's worker reads it (panel.nodes; django-q2's cluster name)."""
    from django_q.tasks import async_task

    if queue is None:
        queue = Job.objects.filter(pk=job_id).values_list("node__name", flat=True).first()

    def _send() -> None:
        async_task(
            TASK,
            str(job_id),
            task_name=f"job-{job_id}",
            timeout=settings.NUSANTARA_JOB_TIMEOUT,
            cluster=queue or settings.NUSANTARA_NODE,
        )

    transaction.on_commit(_send)


def job_node(site_id: Any) -> Node:
    """Where a new job runs: on its site's node; a job without a site (a global one, such as
    nginx.resync) on the node of the process that queues it (NUSANTARA_NODE, default "local")."""
    if site_id is not None:
        node = Node.objects.filter(sites__pk=site_id).first()
        if node is not None:
            return node
    return Node.local()


def site_has_active_job(site_id: Any, exclude: Any = None) -> bool:
    qs = Job.objects.filter(site_id=site_id, status__in=ACTIVE_STATUSES)
    return qs.exclude(pk=exclude).exists() if exclude is not None else qs.exists()


def ensure_site_idle(site_id: Any, exclude: Any = None) -> None:
    """Raise JobBusy while the site has a queued or running job (callers lock the site row)."""
    if site_has_active_job(site_id, exclude):
        raise JobBusy(
            _(
                "Another operation on this site is still in progress. "
                "Try again when it has finished."
            )
        )


def job_create(
    *,
    type: JobType,
    payload: dict[str, Any],
    user: Any = None,
    site_id: Any = None,
    exclusive: bool = True,
    deliver: bool = True,
) -> Job:
    """Insert a queued job and enqueue it after commit. With `exclusive`, refuse while the
    site already has an active job (callers lock the site row first). deliver=False: the
    caller runs it in-process (runner.run_job), e.g. a recovery command with no worker.
    `type` must be a JobType (ValueError otherwise)."""
    type = JobType(type)
    if exclusive and site_id is not None:
        ensure_site_idle(site_id)
    actor = user if getattr(user, "pk", None) else None
    node = job_node(site_id)
    job = Job.objects.create(
        type=type,
        status=JobStatus.QUEUED,
        payload=payload,
        site_id=site_id,
        created_by=actor,
        node=node,
    )
    if deliver:
        enqueue(job.pk, node.name)
    return job


def job_retry(*, job: Job, user: Any) -> Job:
    """Admins: re-run a failed job as a new attempt of the same row. Raises JobBusy, or
    RateLimited (a ValidationError) when a new request of its kind would be refused."""
    with transaction.atomic():
        site_id = Job.objects.filter(pk=job.pk).values_list("site_id", flat=True).first()
        if site_id is not None:
            # The site row first, as every other service takes it: two requests for the same
            # site (a retry and a new change) then queue one after the other, and the busy
            # check below cannot race a job another transaction is about to insert.
            for lock in SITE_LOCKS:
                lock(site_id)
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status != JobStatus.FAILED:
            raise JobBusy(_("Only a failed job can be retried."))
        if job.site_id:
            ensure_site_idle(job.site_id, exclude=job.pk)
            if action := RETRY_LIMITS.get(job.type):
                # A retry is a new attempt: it must not get round the CA's limits or nginx's.
                rate_check(action, user=user, site_id=job.site_id)
        job.status = JobStatus.QUEUED
        job.error_message = None
        job.started_at = None
        job.finished_at = None
        if job.site_id and (moved := Node.objects.filter(sites__pk=job.site_id).first()):
            # The site may have moved since the job was queued: a retry runs where it lives now
            # (its old node's worker would refuse it, and its batch leader must not claim it).
            job.node = moved
        job.save(update_fields=["status", "error_message", "started_at", "finished_at", "node"])
        from .runner import HANDLERS

        handler = HANDLERS.get(job.type)
        if handler is not None and handler.on_retry is not None:
            handler.on_retry(job)
        audit_record(
            actor=user, action=AuditAction.JOB_RETRY, target=job, metadata={"type": job.type}
        )
        enqueue(job.pk, job.node.name)
    return job
