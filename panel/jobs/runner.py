"""The job runner: the only code that moves a job's status. django-q2 executes `run_job`.

queued -> running -> success | failed. Expected failures (nginx refused the config, the CA said
no) raise `JobFailed` and become `failed` with a message a person can act on; anything else is a
bug: the job fails with a short message and the traceback goes into the job's log.

Handlers must be idempotent: django-q2 re-delivers a task whose worker died mid-run.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.nodes.models import Node

from .models import Job, JobStatus
from .types import JobType

logger = logging.getLogger(__name__)

MAX_LOG_LINES = 200


class JobFailed(Exception):
    """An expected failure; its message is shown to the user as the job's error."""


@dataclass(frozen=True)
class Handler:
    run: Callable[[Job], None]
    # Called in the same transaction that marks the job failed (e.g. site -> failed).
    on_failure: Callable[[Job, str], None] | None = None
    # Called in the retry transaction (e.g. a failed site goes back to provisioning).
    on_retry: Callable[[Job], None] | None = None


HANDLERS: dict[str, Handler] = {}


def register(
    job_type: JobType,
    *,
    on_failure: Callable[[Job, str], None] | None = None,
    on_retry: Callable[[Job], None] | None = None,
) -> Callable[[Callable[[Job], None]], Callable[[Job], None]]:
    if not isinstance(job_type, JobType):
        raise TypeError(f"register() takes a JobType member, not {job_type!r}")

    def decorator(func: Callable[[Job], None]) -> Callable[[Job], None]:
        HANDLERS[job_type] = Handler(run=func, on_failure=on_failure, on_retry=on_retry)
        return func

    return decorator


def job_log(job: Job, message: str, *, admin_only: bool = False) -> None:
    """Append one line to the job's step-by-step log (saved immediately, readable live).
    `admin_only` lines (a traceback: paths, library internals) are shown to administrators only."""
    _append_log(job, message, admin_only=admin_only)
    Job.objects.filter(pk=job.pk).update(log=job.log)


def _append_log(job: Job, message: str, *, admin_only: bool = False) -> None:
    entry: dict[str, object] = {
        "at": timezone.now().isoformat(timespec="milliseconds"),
        "msg": message[:2000],
    }
    if admin_only:
        entry["admin"] = True
    job.log = [*job.log, entry][-MAX_LOG_LINES:]


def fail_internal(job: Job, exc: BaseException) -> None:
    """Fail a job on a bug (an exception no handler expected). The exception's text can hold
    paths, SQL or a library's internals: the traceback goes into the job's log for administrators
    only; the site's owner reads a message without it."""
    job_log(job, traceback.format_exc()[-4000:], admin_only=True)
    fail_job(
        job,
        f"Internal error ({exc.__class__.__name__}); an administrator can read the details "
        "in the job's log.",
    )


def worker_id() -> str:
    """Who runs a job: "host:pid". The reaper uses it to spot jobs whose worker died."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim(job_id: str) -> Job | None:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        # Only a queued job is claimed: a finished one was a duplicate delivery, and a running one
        # belongs to another worker (or a batch leader); if that worker died, the reaper puts the
        # job back to queued.
        if job is None or job.status != JobStatus.QUEUED:
            return None
        _mark_running(job)
        job.save(
            update_fields=[
                "status",
                "started_at",
                "attempts",
                "finished_at",
                "error_message",
                "worker",
            ]
        )
    return job


def _mark_running(job: Job) -> None:
    job.status = JobStatus.RUNNING
    job.started_at = timezone.now()
    job.attempts += 1
    job.finished_at = None
    job.error_message = None
    job.worker = worker_id()


def wrong_node(job: Job) -> str | None:
    """Why this worker must not run the job (its site lives on another node), or None. Only the
    site's own node may touch its files and nginx; a misrouted task fails instead of running."""
    owner = None
    if job.site_id is not None:
        owner = Node.objects.filter(sites__pk=job.site_id).values_list("name", flat=True).first()
    if owner is None:
        owner = Node.objects.filter(pk=job.node_id).values_list("name", flat=True).first()
    if owner is None or owner == settings.NUSANTARA_NODE:
        return None
    return (
        f"This job belongs to node {owner}; the worker of node {settings.NUSANTARA_NODE} "
        f"({worker_id()}) refused it. Check that node {owner}'s worker runs with "
        f"NUSANTARA_NODE={owner}, then retry the job."
    )


def claim_batch(*, types: Iterable[str], exclude: Any = None, limit: int = 1000) -> list[Job]:
    """Claim queued jobs of these types for the calling worker to run together (a batch leader
    applying many nginx changes with one test and one reload). Their own task deliveries later
    find them claimed and do nothing."""
    with transaction.atomic():
        # Only this node's jobs: another node's sites are not ours to touch.
        here = settings.NUSANTARA_NODE
        qs = Job.objects.filter(status=JobStatus.QUEUED, type__in=list(types), node__name=here)
        # ... and whose site (if it still exists) lives here now: a site moved after its job was
        # queued is no longer ours, whatever the job row says (run_job's wrong_node refuses it).
        elsewhere = Node.objects.exclude(name=here).filter(sites__isnull=False)
        qs = qs.exclude(site_id__in=elsewhere.values("sites__pk"))
        if exclude is not None:
            qs = qs.exclude(pk=exclude)
        # of=("self",): lock the job rows only. Without it PostgreSQL also locks the joined node
        # row FOR UPDATE, which every site being created holds a share lock on (its foreign key):
        # the leader skipped most queued jobs and site creation waited for the leader (a burst
        # of 500 took 26 batches instead of 3, bench/provision.py).
        jobs = list(
            qs.select_for_update(skip_locked=True, of=("self",)).order_by("created_at")[:limit]
        )
        for job in jobs:
            _mark_running(job)
            _append_log(job, f"attempt {job.attempts} started on {job.worker} (batch)")
        Job.objects.bulk_update(
            jobs,
            ["status", "started_at", "attempts", "finished_at", "error_message", "worker", "log"],
            batch_size=200,
        )
    return jobs


def run_job(job_id: str) -> str:
    """Entry point for django-q2. Returns the final status."""
    job = _claim(str(job_id))
    if job is None:
        return "skipped"
    if refusal := wrong_node(job):
        fail_job(job, refusal)
        return JobStatus.FAILED
    handler = HANDLERS.get(job.type)
    if handler is None:
        fail_job(job, f"Unknown job type {job.type!r}.")
        return JobStatus.FAILED
    job_log(job, f"attempt {job.attempts} started on {job.worker}")
    try:
        handler.run(job)
    except JobFailed as exc:
        fail_job(job, str(exc))
        return JobStatus.FAILED
    except Exception as exc:
        logger.exception("job %s (%s) errored", job.pk, job.type)
        fail_internal(job, exc)
        return JobStatus.FAILED
    complete_job(job)
    return JobStatus.SUCCESS


def complete_job(job: Job) -> None:
    """Mark a job succeeded (with its log line and audit entry) in one transaction."""
    with transaction.atomic():
        # Only a running job finishes: if the reaper took it back meanwhile, its new run decides.
        if not Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.SUCCESS, finished_at=timezone.now(), error_message=None
        ):
            return
        job.status = JobStatus.SUCCESS
        job_log(job, "finished: success")
        audit_record(
            actor=None,
            action=AuditAction.JOB_SUCCESS,
            target=job,
            metadata={"type": job.type, "site_id": str(job.site_id) if job.site_id else None},
        )


def fail_job(job: Job, message: str) -> None:
    """Mark a job failed (and let its handler mark what it touched failed), in one transaction."""
    handler = HANDLERS.get(job.type)
    with transaction.atomic():
        if not Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, finished_at=timezone.now(), error_message=message
        ):
            return
        job.status, job.error_message = JobStatus.FAILED, message
        job_log(job, f"finished: failed: {message}")
        if handler and handler.on_failure:
            handler.on_failure(job, message)
        audit_record(
            actor=None,
            action=AuditAction.JOB_FAILED,
            target=job,
            metadata={
                "type": job.type,
                "site_id": str(job.site_id) if job.site_id else None,
                "error": message[:500],
            },
        )
