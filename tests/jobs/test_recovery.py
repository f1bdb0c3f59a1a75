"""Recovery: the reaper requeues or fails lost running jobs and re-enqueues lost queued ones;
a worker SIGKILLed mid-job is recovered by the worker that replaces it."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.jobs.recovery import MAX_ATTEMPTS, SCHEDULE_NAME, reap
from panel.jobs.runner import run_job
from panel.jobs.services import job_create
from panel.sites import nginx as ngx
from panel.sites.models import SiteStatus
from panel.sites.services import site_create
from tests.services.worker import worker_env


def _running(**fields) -> Job:
    job = Job.objects.create(type="site.provision", payload={}, status="running", **fields)
    return job


@pytest.mark.django_db
def test_job_running_past_its_timeout_is_queued_again(settings, django_capture_on_commit_callbacks):
    settings.NUSANTARA_JOB_TIMEOUT = 10
    job = _running(
        started_at=timezone.now() - timedelta(minutes=5), worker="elsewhere:1", attempts=1
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert reap()["requeued"] == 1
    job.refresh_from_db()
    assert job.status == "queued" and job.worker is None
    assert "worker lost" in job.log[-1]["msg"]
    assert OrmQ.objects.count() == 1  # handed to the broker again


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["running", "success", "failed"])
def test_a_late_redelivery_of_the_task_runs_nothing(status):
    """django-q2's ORM broker hands a killed worker's task out again once its lock expires: the
    job is then still running for the dead worker, or already re-run by the reaper. Only the
    jobs table starts a new attempt (docs/jobs.md "Retries")."""
    job = Job.objects.create(
        type="site.provision", payload={}, status=status, worker="gone:1", attempts=2
    )
    assert run_job(str(job.pk)) == "skipped"
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == (status, 2, "gone:1")


def test_django_q_never_retries_a_task_itself(settings):
    conf = settings.Q_CLUSTER
    assert conf["max_attempts"] == 1 and conf["ack_failures"] is True
    assert conf["retry"] > conf["timeout"]


@pytest.mark.django_db
def test_job_lost_too_often_fails_with_worker_lost(settings):
    settings.NUSANTARA_JOB_TIMEOUT = 10
    job = _running(
        started_at=timezone.now() - timedelta(minutes=5),
        worker="elsewhere:1",
        attempts=MAX_ATTEMPTS,
    )
    assert reap()["failed"] == 1
    job.refresh_from_db()
    assert job.status == "failed" and "Worker lost" in job.error_message
    assert job.finished_at is not None


@pytest.mark.django_db
def test_job_of_a_dead_local_process_is_recovered_before_the_timeout():
    import socket
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()  # a pid that surely no longer exists
    job = _running(started_at=timezone.now(), worker=f"{socket.gethostname()}:{proc.pid}")
    assert reap()["requeued"] == 1
    job.refresh_from_db()
    assert job.status == "queued"


@pytest.mark.django_db
def test_live_running_job_is_left_alone():
    job = _running(started_at=timezone.now(), worker=f"elsewhere:{os.getpid()}", attempts=1)
    assert reap() == {"requeued": 0, "failed": 0, "enqueued": 0}
    job.refresh_from_db()
    assert job.status == "running"


@pytest.mark.django_db
def test_queued_job_whose_task_was_lost_is_enqueued_again(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        held = job_create(type="site.provision", payload={}, user=None)
    lost = Job.objects.create(type="site.provision", payload={}, status="queued")
    old = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk__in=[held.pk, lost.pk]).update(created_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert reap()["enqueued"] == 1
    assert OrmQ.objects.count() == 2
    assert "enqueued again" in Job.objects.get(pk=lost.pk).log[-1]["msg"]


@pytest.mark.django_db
def test_reaper_schedule_exists_and_the_command_is_idempotent():
    assert Schedule.objects.filter(name=SCHEDULE_NAME).count() == 1
    call_command("ensure_schedules")
    call_command("ensure_schedules")
    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "panel.jobs.recovery.reap",
        Schedule.MINUTES,
        1,
    )


def test_worker_killed_mid_job_is_recovered(worker_manager, nginx, phpfpm, transactional_db, owner):
    # A real but slow `nginx -t` keeps the job running long enough to kill its worker.
    slow = f"sh -c 'sleep 1.5; exec {nginx.test_cmd}'"
    timeout = 8
    worker = worker_manager.ensure(
        worker_env(NUSANTARA_JOB_TIMEOUT=timeout, NUSANTARA_NGINX_TEST_CMD=slow)
    )
    site = site_create(user=owner, domain="crash.e2e.example", runtime="static")
    job = Job.objects.get(site_id=site.pk)
    deadline = time.monotonic() + 30
    while not (job.status == "running" and job.worker):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
        job.refresh_from_db()
    os.kill(int(job.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    killed_at = time.monotonic()
    job = worker.wait_for_job(job, timeout=timeout + 30)
    assert job.status in ("success", "failed")
    assert time.monotonic() - killed_at < timeout + 30
    # One retry layer (docs/jobs.md "Retries"): the killed attempt is re-run exactly once,
    # by the jobs table's recovery, and django-q2 adds no run of its own.
    assert job.attempts == 2
    assert sum("worker lost" in line["msg"] for line in job.log) == 1
    assert sum(line["msg"].startswith("attempt ") for line in job.log) == 2
    assert AuditLog.objects.filter(action="job.requeued", target_id=str(job.pk)).count() == 1
    leftovers = sorted(p.name for p in nginx.conf_dir.glob(f"{site.domain}.conf*"))
    assert leftovers in ([f"{site.domain}.conf"], [])
    assert nginx.config_ok()[0]
    site.refresh_from_db()
    if job.status == "success":
        assert site.status == SiteStatus.ACTIVE
        assert nginx.wait_for(site.domain).status == 200
    assert not (ngx._journal_dir()).exists()


@pytest.mark.django_db
def test_admin_retry_puts_the_failed_site_back_to_provisioning(admin_user, owner):
    from panel.jobs.runner import fail_job
    from panel.jobs.services import job_retry

    site = site_create(user=owner, domain="retry.example", runtime="static")
    job = Job.objects.get(site_id=site.pk)
    Job.objects.filter(pk=job.pk).update(status="running")
    fail_job(job, "nginx said no")
    site.refresh_from_db()
    assert site.status == SiteStatus.FAILED
    job = job_retry(job=job, user=admin_user)
    site.refresh_from_db()
    assert (job.status, site.status) == ("queued", SiteStatus.PROVISIONING)
