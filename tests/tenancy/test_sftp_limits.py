"""A customer cannot flood the shared worker with root-helper runs: key changes fold into the
one `sftp.keys` job still queued for the site, and key, password and upload jobs count in the
per-account job limit."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from panel.jobs.models import Job, JobStatus
from panel.tenancy.models import SiteSshKey
from panel.tenancy.sftp import sftp_key_add, sftp_key_remove, sftp_password_set
from tests.factories import SiteFactory

from .keygen import ed25519_pair


@pytest.fixture
def site(owner):
    return SiteFactory(created_by=owner, system_user="np00aa11bb22")


def test_a_burst_of_key_changes_queues_one_job(owner, site):
    for _ in range(25):
        _, line = ed25519_pair()
        sftp_key_add(user=owner, site=site, public_key=line)
        sftp_key_remove(user=owner, site=site, key=SiteSshKey.objects.get(site=site))
    jobs = Job.objects.filter(site_id=site.pk, type="sftp.keys")
    assert jobs.count() == 1 and jobs.get().status == JobStatus.QUEUED
    # Once that job has run, the next change queues a new one (it must see the new table).
    jobs.update(status=JobStatus.SUCCESS)
    _, line = ed25519_pair()
    sftp_key_add(user=owner, site=site, public_key=line)
    assert Job.objects.filter(site_id=site.pk, type="sftp.keys").count() == 2


def test_password_changes_count_in_the_account_job_limit(owner, site, settings):
    settings.NUSANTARA_RATE_ACCOUNT_JOBS = (2, 600)
    for _ in range(2):
        sftp_password_set(user=owner, site=site, password="correct horse battery")
        Job.objects.filter(site_id=site.pk).update(status=JobStatus.SUCCESS)
    with pytest.raises(ValidationError) as refused:
        sftp_password_set(user=owner, site=site, password="correct horse battery")
    assert "Too many operations from your account" in str(refused.value.message_dict["__all__"])
    assert Job.objects.filter(site_id=site.pk, type="sftp.password").count() == 2
