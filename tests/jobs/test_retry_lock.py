"""job_retry takes the site's row lock like every other service: a retry waits while another
transaction holds the site (e.g. a new change being queued), instead of racing its busy check."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from panel.jobs.models import Job, JobStatus
from panel.jobs.services import job_retry
from panel.sites.models import Site
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _hold_site_row(site_id, locked: threading.Event, release: threading.Event) -> None:
    try:
        with transaction.atomic():
            list(Site.objects.select_for_update().filter(pk=site_id))
            locked.set()
            release.wait(10)
    finally:
        connections.close_all()


def test_retry_waits_for_the_site_row_lock(admin_user, owner):
    if connection.vendor != "postgresql":
        pytest.skip("row locks and lock_timeout are PostgreSQL's")
    site = SiteFactory(created_by=owner)
    job = Job.objects.create(type="site.hsts", status=JobStatus.FAILED, site_id=site.pk, payload={})
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_site_row, args=(site.pk, locked, release))
    holder.start()
    try:
        assert locked.wait(10)
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            job_retry(job=job, user=admin_user)
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED  # nothing happened while the site was held
    finally:
        release.set()
        holder.join(10)
    assert job_retry(job=job, user=admin_user).status == JobStatus.QUEUED
