"""Recovery: no job stays `running` forever and no `queued` job is forgotten (docs/jobs.md).

- `reap()` runs as the django-q2 schedule `jobs.reaper` every minute, one per node on the node's
  own queue, and looks only at that node's jobs. A job running longer than
  NUSANTARA_JOB_TIMEOUT + GRACE, or whose worker process on this host is gone, is queued again
  (handlers are idempotent) until MAX_ATTEMPTS, then failed with "worker lost". A job queued for
  over a minute whose task the broker no longer holds (Redis pops a task when a worker reads it;
  a crash between commit and enqueue loses it) is enqueued again.
- `on_worker_spawn` runs the "process gone" half at once when django-q2 (re)spawns a worker
  process, so a worker killed mid-job is noticed in about a second, not a minute.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record

from .models import Job, JobStatus
from .runner import fail_job, job_log
from .services import enqueue

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "jobs.reaper"
REAPER = "panel.jobs.recovery.reap"
GRACE = timedelta(seconds=30)
LOST_QUEUED_AFTER = timedelta(minutes=1)
MAX_ATTEMPTS = 3


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_gone(worker: str | None) -> bool:
    """True when `worker` ("host:pid") ran on this host and that process no longer exists."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return int(pid) != os.getpid() and not _pid_alive(int(pid))


def recover(job: Job, reason: str) -> str:
    """Queue a lost running job again, or fail it after MAX_ATTEMPTS. Returns what was done."""
    with transaction.atomic():
        current = Job.objects.select_for_update().filter(pk=job.pk).first()
        # Only act on the exact attempt we judged lost; anything else moved on by itself.
        if (
            current is None
            or current.status != JobStatus.RUNNING
            or current.worker != job.worker
            or current.started_at != job.started_at
        ):
            return "skipped"
        if current.attempts >= MAX_ATTEMPTS:
            fail_job(
                current,
                f"Worker lost: {reason}. Gave up after {current.attempts} attempts; "
                "an administrator can retry the job.",
            )
            return "failed"
        Job.objects.filter(pk=current.pk).update(status=JobStatus.QUEUED, worker=None)
        job_log(current, f"worker lost: {reason}; queued again")
        audit_record(
            actor=None,
            action=AuditAction.JOB_REQUEUED,
            target=current,
            metadata={"type": current.type, "reason": reason, "attempts": current.attempts},
        )
        enqueue(current.pk)
    logger.warning("job %s (%s) requeued: %s", job.pk, job.type, reason)
    return "requeued"


def _queued_task_job_ids() -> set[str] | None:
    """Job ids the ORM broker still holds a task for; None when the broker cannot be asked."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.models import OrmQ

    queue = settings.NUSANTARA_NODE  # this node's queue (django-q2's cluster name)
    if not Conf.ORM:
        broker = get_broker(queue)
        # Redis cannot be searched; an empty queue at least proves a stale task is not in it.
        return set() if broker.queue_size() == 0 else None
    ids: set[Any] = set()
    # Only this node's queue: a task left under another key (the queue of the embedded default
    # before nodes existed) is one no worker reads, so its job counts as lost and is enqueued
    # again on the right queue.
    for row in OrmQ.objects.using(Conf.ORM).filter(key=queue):
        try:
            ids.update(str(arg) for arg in row.task.get("args", ()))
        except Exception:  # an undecodable row is not ours to judge
            logger.debug("skipping an undecodable queue row %s", row.pk)
    return ids


def reap() -> dict[str, int]:
    """The reaper schedule. Returns counts for the task result."""
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "enqueued": 0}
    timeout = settings.NUSANTARA_JOB_TIMEOUT
    cutoff = now - timedelta(seconds=timeout) - GRACE
    mine = Job.objects.filter(node__name=settings.NUSANTARA_NODE)  # each node reaps its own
    for job in mine.filter(status=JobStatus.RUNNING):
        if job.started_at and job.started_at < cutoff:
            outcome = recover(job, f"still running after the {timeout} s timeout")
        elif worker_gone(job.worker):
            outcome = recover(job, f"its worker process {job.worker} has died")
        else:
            continue
        counts[outcome] = counts.get(outcome, 0) + 1
    stale = list(mine.filter(status=JobStatus.QUEUED, created_at__lt=now - LOST_QUEUED_AFTER))
    if stale:
        held = _queued_task_job_ids()
        for job in stale:
            if held is None or str(job.pk) in held:
                continue
            job_log(job, "its task was lost before a worker took it; enqueued again")
            enqueue(job.pk)
            counts["enqueued"] += 1
    return counts


def recover_dead_local_workers() -> int:
    """Requeue the running jobs of worker processes on this host that no longer exist."""
    done = 0
    for job in Job.objects.filter(
        status=JobStatus.RUNNING, worker__startswith=socket.gethostname()
    ):
        if worker_gone(job.worker):
            done += recover(job, f"its worker process {job.worker} has died") != "skipped"
    return done


def on_worker_spawn(sender: Any = None, **kwargs: Any) -> None:
    """django-q2 `post_spawn` receiver (in the new worker process); never breaks the worker."""
    try:
        recover_dead_local_workers()
    except Exception:
        logger.exception("recovering jobs of dead workers failed")


def ensure_schedules() -> None:
    """Create every node's reaper schedule if missing (idempotent; post_migrate and a command
    call it). The reaper runs per node, on the node's own queue (panel.nodes.schedules)."""
    from panel.nodes.services import ensure_node_schedules

    ensure_node_schedules()
