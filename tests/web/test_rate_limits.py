"""Rate limits as the user meets them on the pages: the refusal names the time to try again in
the user's time zone, and nothing is queued, recorded or changed."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from panel.audit.models import AuditLog
from panel.jobs.models import Job, JobStatus
from panel.sites.models import Site
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

ZONE = "Asia/Jayapura"  # UTC+9: not the panel's default, so the zone is visibly applied


@pytest.fixture
def client_in_zone(owner_client):
    session = owner_client.session
    session["tz"] = ZONE
    session.save()
    return owner_client


def _jobs(n, *, type, site=None, user=None):
    now = timezone.now()
    Job.objects.bulk_create(
        Job(
            type=type,
            status=JobStatus.SUCCESS,
            site_id=site.pk if site else None,
            created_by=user,
            started_at=now,
            finished_at=now,
        )
        for _ in range(n)
    )
    return Job.objects.order_by("created_at").first().created_at


def _at(when: dt.datetime) -> str:
    """HH:MM in the user's zone, rounded up; with the date when that is not today there (a run
    shortly before midnight in Jayapura)."""
    zone = zoneinfo.ZoneInfo(ZONE)
    when = (when.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)).astimezone(zone)
    if when.date() != timezone.now().astimezone(zone).date():
        return when.strftime("%Y-%m-%d %H:%M")
    return when.strftime("%H:%M")


def _counts():
    return Job.objects.count(), AuditLog.objects.count(), Site.objects.count()


def test_certificate_request_over_the_limit_says_when_and_queues_nothing(client_in_zone, site):
    oldest = _jobs(5, type="ssl.issue", site=site)
    before = _counts()
    response = client_in_zone.post(f"/sites/{site.pk}/certificate/", follow=True)
    assert response.redirect_chain[-1][0] == f"/sites/{site.pk}/"
    html = response.content.decode()
    retry = _at(oldest + dt.timedelta(hours=1))
    expected = f"Too many certificate requests for this site. Try again at {retry}."
    assert expected in html
    assert "Certificate requested" not in html
    assert _counts() == before and not site.certificates.exists()


def test_runtime_change_over_the_limit_shows_on_the_form(client_in_zone, site, owner):
    oldest = _jobs(10, type="site.update", site=site, user=owner)
    before = _counts()
    response = client_in_zone.post(f"/sites/{site.pk}/settings/", {"runtime": "php"})
    assert response.status_code == 200  # the page again, with the form and its error
    html = response.content.decode()
    retry = _at(oldest + dt.timedelta(minutes=10))
    expected = f"Too many settings changes for this site. Try again at {retry}."
    assert expected in html
    assert _counts() == before
    site.refresh_from_db()
    assert site.runtime == "static"


def test_new_site_over_the_account_rate_shows_on_the_form(client_in_zone, owner, settings):
    settings.NUSANTARA_MAX_SITES_PER_USER = 100
    oldest = _jobs(10, type="site.provision", user=owner)
    before = _counts()
    response = client_in_zone.post("/sites/new/", {"domain": "more.example", "runtime": "static"})
    assert response.status_code == 200
    html = response.content.decode()
    retry = _at(oldest + dt.timedelta(hours=1))
    expected = f"Too many new sites from your account in a short time. Try again at {retry}."
    assert expected in html
    assert _counts() == before


def test_certificate_upload_over_the_limit_shows_on_the_form(client_in_zone, site):
    _jobs(5, type="ssl.install", site=site)
    before = _counts()
    response = client_in_zone.post(
        f"/sites/{site.pk}/certificate/upload/", {"chain_pem": "x", "key_pem": "secret-key"}
    )
    html = response.content.decode()
    assert "Too many certificate uploads for this site. Try again at" in html
    assert "secret-key" not in html
    assert _counts() == before


def test_another_users_site_is_not_slowed_by_this_one(outsider_client, outsider, site):
    _jobs(5, type="ssl.issue", site=site)
    theirs = SiteFactory(created_by=outsider)
    outsider_client.post(f"/sites/{theirs.pk}/certificate/")
    assert Job.objects.filter(site_id=theirs.pk, type="ssl.issue").count() == 1


def test_admin_retry_over_the_limit_says_why_and_queues_nothing(admin_client, site, owner):
    for _ in range(3):
        _jobs(1, type="ssl.issue", site=site, user=owner)
    Job.objects.update(status=JobStatus.FAILED)
    job = Job.objects.first()
    response = admin_client.post(f"/jobs/{job.pk}/retry/", follow=True)
    assert response.status_code == 200
    assert "The last certificate requests for this site failed" in response.content.decode()
    assert not Job.objects.exclude(status=JobStatus.FAILED).exists()
