"""Dashboard: sites by status, certificates needing attention, jobs; worker health for admins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from panel.certificates.models import CertStatus
from panel.jobs.models import JobStatus
from panel.sites.models import SiteStatus
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_user_sees_own_counts_certificates_and_jobs_only(
    owner_client, owner, outsider, site, make_cert, make_job
):
    SiteFactory(created_by=owner, status=SiteStatus.FAILED, domain="broken.example")
    theirs = SiteFactory(created_by=outsider, domain="theirs.example")
    make_cert(site=site, days=5)
    make_cert(site=theirs, days=5)
    failed = make_job(site=site, user=owner, status=JobStatus.FAILED, type="site.provision")
    other = make_job(site=theirs, user=outsider, status=JobStatus.FAILED, type="site.delete")
    response = owner_client.get("/")
    html = response.content.decode()
    counts = {value: n for value, _label, n in response.context["by_status"]}
    assert counts == {
        "provisioning": 0,
        "active": 1,
        "suspended": 0,
        "deleting": 0,
        "failed": 1,
    }
    assert "bücher.id" in html and "theirs.example" not in html
    assert f"/jobs/{failed.pk}/" in html and f"/jobs/{other.pk}/" not in html
    assert "2 sites of 10 allowed." in html
    assert "Background work" not in html


def test_certificates_listed_only_when_they_need_attention(owner_client, owner, make_cert):
    soon = make_cert(site=SiteFactory(created_by=owner, domain="soon.example"), days=20)
    later = make_cert(site=SiteFactory(created_by=owner, domain="later.example"), days=80)
    failed = make_cert(
        site=SiteFactory(created_by=owner, domain="failed.example"),
        status=CertStatus.FAILED,
        days=80,
    )
    certs = owner_client.get("/").context["certificates"]
    assert soon in certs and failed in certs and later not in certs


def test_admin_sees_worker_heartbeat_and_missing_warning(admin_client):
    html = admin_client.get("/").content.decode()
    assert "Worker heartbeat" in html
    assert "The worker has not reported recently." in html
    assert "unknown" in html


def test_admin_sees_fresh_heartbeat_without_warning(admin_client):
    from panel.ops.heartbeat import beat

    beat()
    html = admin_client.get("/").content.decode()
    assert "The worker has not reported recently." not in html


def test_admin_sees_renewal_warning_until_the_schedule_ran(admin_client):
    from django_q.models import Schedule

    from panel.audit.models import AuditLog
    from panel.certificates.services import RENEWAL_SCHEDULE, renewal_run

    warning = "Certificate renewal has not run in the last day."
    # The schedule has fired before (a fresh one shows its first run instead: test_service_health).
    Schedule.objects.filter(name=RENEWAL_SCHEDULE).update(task="earlier-run")
    assert warning in admin_client.get("/").content.decode()
    renewal_run()
    assert warning not in admin_client.get("/").content.decode()
    AuditLog.objects.filter(action="ssl.renewal_run").update(
        created_at=timezone.now() - timedelta(days=2)
    )
    assert warning in admin_client.get("/").content.decode()


def test_suspended_sites_are_counted_for_their_owner_and_admins(
    owner_client, admin_client, owner, outsider
):
    SiteFactory(created_by=owner, suspended_at=timezone.now())
    SiteFactory(created_by=owner)
    SiteFactory(created_by=outsider, suspended_at=timezone.now())
    assert "1 of them is suspended" in owner_client.get("/").content.decode()
    assert "2 of them are suspended" in admin_client.get("/").content.decode()


def test_a_suspended_site_counts_as_suspended_not_active(owner_client, owner, site):
    SiteFactory(created_by=owner, domain="tutup.example", suspended_at=timezone.now())
    response = owner_client.get("/")
    counts = {value: n for value, _label, n in response.context["by_status"]}
    assert (counts["active"], counts["suspended"]) == (1, 1)
    html = response.content.decode()
    assert 'href="/sites/?status=suspended"' in html
    listed = owner_client.get("/sites/?status=suspended").content.decode()
    assert "tutup.example" in listed and "bücher.id" not in listed
    active = owner_client.get("/sites/?status=active").content.decode()
    assert "bücher.id" in active and "tutup.example" not in active
    row = active.split("bücher.id", 1)[1].split("</tr>", 1)[0]
    assert "badge-active" in row
    row = listed.split("tutup.example", 1)[1].split("</tr>", 1)[0]
    assert "badge-suspended" in row and "badge-active" not in row


def test_no_suspension_line_without_suspended_sites(owner_client, site):
    assert 'data-testid="suspended-count"' not in owner_client.get("/").content.decode()
