"""Routing without a second worker: a site's job goes on its node's queue (django-q2's cluster
name, the ORM broker's `key` here), a worker refuses a job whose site is on another node, a batch
leader claims only its own node's jobs, and every node has its own schedules."""

from __future__ import annotations

import pytest
from django_q.models import OrmQ, Schedule

from panel.jobs.models import Job, JobStatus
from panel.jobs.runner import claim_batch, run_job
from panel.jobs.services import job_create
from panel.nodes.services import ensure_node_schedules
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def _queue_of(job) -> str:
    for row in OrmQ.objects.all():
        if str(job.pk) in [str(a) for a in row.task.get("args", ())]:
            return row.key
    raise AssertionError(f"no task for {job.pk}")


def test_a_sites_job_goes_on_its_nodes_queue(
    local_node, node_b, django_capture_on_commit_callbacks
):
    on_b = SiteFactory(node=node_b)
    here = SiteFactory(node=local_node)
    with django_capture_on_commit_callbacks(execute=True):
        job_b = job_create(type="site.provision", payload={}, site_id=on_b.pk)
        job_here = job_create(type="site.provision", payload={}, site_id=here.pk)
        global_job = job_create(type="nginx.resync", payload={})
    assert (job_b.node, job_here.node, global_job.node) == (node_b, local_node, local_node)
    assert _queue_of(job_b) == "node-b"
    assert _queue_of(job_here) == "local"
    assert _queue_of(global_job) == "local"


def test_a_worker_refuses_a_job_whose_site_is_on_another_node(node_b, local_node):
    site = SiteFactory(node=node_b, status="provisioning")
    job = Job.objects.create(type="site.provision", payload={}, site_id=site.pk, node=local_node)
    assert run_job(str(job.pk)) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_message.startswith("This job belongs to node node-b; the worker of node local")
    assert job.finished_at is not None


def test_a_batch_leader_claims_only_its_own_nodes_jobs(node_b, local_node):
    mine = Job.objects.create(
        type="site.provision", payload={}, site_id=SiteFactory().pk, node=local_node
    )
    theirs = Job.objects.create(
        type="site.provision", payload={}, site_id=SiteFactory(node=node_b).pk, node=node_b
    )
    claimed = claim_batch(types=["site.provision"])
    assert [j.pk for j in claimed] == [mine.pk]
    theirs.refresh_from_db()
    assert theirs.status == JobStatus.QUEUED


def test_every_node_has_its_four_schedules_on_its_own_queue(local_node, node_b):
    ensure_node_schedules()
    ensure_node_schedules()
    rows = sorted(Schedule.objects.values_list("cluster", "name", "func"))
    assert rows == sorted(
        [
            ("local", "ops.heartbeat", "panel.ops.heartbeat.beat"),
            ("local", "jobs.reaper", "panel.jobs.recovery.reap"),
            ("local", "ssl-renewal", "panel.certificates.services.renewal_run"),
            ("local", "tenancy.disk_usage", "panel.tenancy.usage.measure_all"),
            ("node-b", "ops.heartbeat@node-b", "panel.ops.heartbeat.beat"),
            ("node-b", "jobs.reaper@node-b", "panel.jobs.recovery.reap"),
            ("node-b", "ssl-renewal@node-b", "panel.certificates.services.renewal_run"),
            ("node-b", "tenancy.disk_usage@node-b", "panel.tenancy.usage.measure_all"),
        ]
    )


def test_schedules_made_before_nodes_move_to_the_local_node(local_node):
    Schedule.objects.all().delete()
    old = Schedule.objects.create(
        name="jobs.reaper", func="panel.jobs.recovery.reap", schedule_type="I", minutes=1
    )
    ensure_node_schedules()
    old.refresh_from_db()
    assert old.cluster == "local"
    assert Schedule.objects.filter(func="panel.jobs.recovery.reap").count() == 1


def test_the_reaper_enqueues_lost_tasks_of_its_own_node_only(
    local_node, node_b, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from panel.jobs.recovery import reap

    old = timezone.now() - timedelta(minutes=5)
    mine = Job.objects.create(type="site.provision", payload={}, node=local_node)
    theirs = Job.objects.create(type="site.provision", payload={}, node=node_b)
    # A task left on the queue of the embedded default before nodes existed: nobody reads it.
    OrmQ.objects.create(key="nusantara", payload="x", lock=timezone.now())
    Job.objects.update(created_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert reap()["enqueued"] == 1
    assert _queue_of(mine) == "local"
    assert not any(
        str(theirs.pk) in str(r.task.get("args")) for r in OrmQ.objects.filter(key="local")
    )


def test_a_retry_after_the_site_moved_goes_to_its_new_node(
    local_node, node_b, admin_user, django_capture_on_commit_callbacks
):
    """Attack: a job failed on node A, the site was moved to node B by hand (docs/operations.md),
    then an admin retries it. The retry must be queued for B (and recorded as B's job), not sent
    back to A, whose worker would refuse it forever (or, in a batch, run it on the wrong disk)."""
    from panel.jobs.services import job_retry

    site = SiteFactory(node=local_node, status="failed")
    job = Job.objects.create(
        type="site.provision",
        payload={},
        site_id=site.pk,
        node=local_node,
        status=JobStatus.FAILED,
        error_message="nginx said no",
    )
    site.node = node_b
    site.save(update_fields=["node"])
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        job_retry(job=job, user=admin_user)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert job.node == node_b
    assert _queue_of(job) == "node-b"


def test_a_batch_leader_skips_a_queued_job_whose_site_moved_away(node_b, local_node):
    """Attack: a job queued for node A (job.node = A) whose site now lives on B. A's batch leader
    must not claim it (it would write B's site's vhost and home on A's disk); it stays queued."""
    moved = SiteFactory(node=node_b)
    stale = Job.objects.create(type="site.provision", payload={}, site_id=moved.pk, node=local_node)
    assert claim_batch(types=["site.provision"]) == []
    stale.refresh_from_db()
    assert stale.status == JobStatus.QUEUED


def test_disk_use_is_measured_by_each_node_on_its_own_queue(local_node, node_b, settings):
    """Attack: the disk use schedule left without a node (cluster NULL) is run by no worker once
    workers read their node's queue (only a worker named like the prefix would); every node
    measures its own homes, so each has the schedule, with the interval of the settings."""
    from panel.tenancy import usage

    settings.NUSANTARA_DISK_USAGE_INTERVAL = 15
    usage.ensure_schedule()
    ensure_node_schedules()
    rows = sorted(
        Schedule.objects.filter(func=usage.TASK).values_list("cluster", "name", "minutes")
    )
    assert rows == [
        ("local", usage.SCHEDULE_NAME, 15),
        ("node-b", f"{usage.SCHEDULE_NAME}@node-b", 15),
    ]


def test_disk_use_of_a_site_on_another_node_is_not_read_from_this_disk(
    local_node, node_b, settings, tmp_path
):
    """Attack: a site on node-b whose domain also has a home on this machine (a copy left after
    a move, or a name reused): this node's run must not store this disk's size for it."""
    from panel.tenancy import usage

    settings.NUSANTARA_ISOLATION = "off"
    settings.NUSANTARA_WEB_ROOT = tmp_path / "www"
    settings.NUSANTARA_DATA_DIR = tmp_path / "data"
    here = SiteFactory(node=local_node, domain="here.example.com")
    there = SiteFactory(node=node_b, domain="there.example.com")
    for site in (here, there):
        public = tmp_path / "www" / site.domain / "public"
        public.mkdir(parents=True)
        (public / "index.html").write_bytes(b"x" * 50_000)
    assert "measured for 1 of 1 site(s)" in usage.measure_all()
    here.refresh_from_db()
    there.refresh_from_db()
    assert here.disk_bytes and here.disk_measured_at
    assert (there.disk_bytes, there.disk_measured_at) == (None, None)
