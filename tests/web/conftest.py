"""Fixtures for the web pages: sites, certificates and jobs owned by the `owner` fixture."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from panel.certificates.models import CertStatus, SslCertificate
from panel.jobs.models import Job, JobStatus
from tests.factories import SiteFactory


@pytest.fixture
def site(owner):
    return SiteFactory(domain="xn--bcher-kva.id", created_by=owner)


@pytest.fixture
def make_job():
    def make(*, site=None, user=None, status=JobStatus.SUCCESS, type="site.provision", **kw):
        now = timezone.now()
        return Job.objects.create(
            type=type,
            status=status,
            site_id=site.pk if site else None,
            created_by=user,
            payload={"domain": site.domain if site else None},
            started_at=now if status != JobStatus.QUEUED else None,
            finished_at=now if status in (JobStatus.SUCCESS, JobStatus.FAILED) else None,
            **kw,
        )

    return make


@pytest.fixture
def make_cert():
    def make(*, site, status=CertStatus.ISSUED, days=60, **kw):
        return SslCertificate.objects.create(
            site=site, status=status, expires_at=timezone.now() + timedelta(days=days), **kw
        )

    return make


@pytest.fixture
def job(site, owner, make_job):
    return make_job(site=site, user=owner)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # The fixed users are created per test; PBKDF2 would dominate this area's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
