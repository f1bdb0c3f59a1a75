"""Every list page and the dashboard run the same number of queries for 1 row and for 30."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from panel.audit.services import audit_record
from panel.certificates.models import CertStatus
from panel.jobs.models import JobStatus
from panel.sites.models import SiteDomain
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/sites/",
    "/sites/?q=example&status=active",
    "/sites/?sort=disk",
    "/certificates/",
    "/jobs/",
    "/jobs/?status=failed",
    "{site}",
    "{site}logs/",
    "{job}",
]


def _fill(n, owner, make_cert, make_job, start=0):
    """n sites, each with a certificate, a failed job and an audit entry."""
    first_site = first_job = None
    for i in range(start, start + n):
        site = SiteFactory(created_by=owner, domain=f"q{i:03d}.example.com")
        make_cert(site=site, days=10, status=CertStatus.ISSUED)
        job = make_job(site=site, user=owner, status=JobStatus.FAILED, log=[{"at": "", "msg": "x"}])
        audit_record(actor=owner, action="site.create", target=site)
        first_site, first_job = first_site or site, first_job or job
    return f"/sites/{first_site.pk}/", f"/jobs/{first_job.pk}/"


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_queries_do_not_grow_with_rows(who, owner, admin_user, make_cert, make_job, client):
    client.force_login(admin_user if who == "admin" else owner)
    site_url, job_url = _fill(1, owner, make_cert, make_job)
    small = {p: _count(client, p.format(site=site_url, job=job_url)) for p in PAGES}
    # the same detail pages, now with 30 jobs on the site and 30 rows everywhere else
    _fill(29, owner, make_cert, make_job, start=1)
    first = owner.sites.get(domain="q000.example.com")
    for _ in range(29):
        make_job(site=first, user=owner, status=JobStatus.FAILED)
        make_cert(site=first, status=CertStatus.FAILED)
        audit_record(actor=owner, action="site.update", target=first)
    for i in range(20):  # the site page with many names
        SiteDomain.objects.create(site=first, domain=f"alias{i:02d}.q000.example.com")
    large = {p: _count(client, p.format(site=site_url, job=job_url)) for p in PAGES}
    assert large == small
    # The admin dashboard is the busiest page: 13 since it reads the schedules for the service
    # health card and names each job's site (one query for both job tables).
    assert max(small.values()) <= 13, small
