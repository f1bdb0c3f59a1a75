"""Requesting certificates, renewal selection, expiry and the renewal run's record (DB only)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from panel.audit.models import AuditLog
from panel.certificates.models import CertStatus, Provider, SslCertificate
from panel.certificates.services import (
    backoff,
    certificate_request,
    due_for_renewal,
    ensure_schedules,
    last_renewal_run,
    mark_expired,
    renewal_run,
)
from panel.jobs.models import Job
from panel.jobs.services import JobBusy
from panel.sites.models import SiteStatus
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def _cert(site, **kw):
    defaults = {"provider": Provider.LETSENCRYPT, "status": CertStatus.ISSUED}
    return SslCertificate.objects.create(site=site, **{**defaults, **kw})


def test_request_creates_pending_row_job_and_audit(owner):
    site = SiteFactory(created_by=owner)
    job = certificate_request(user=owner, site=site)
    cert = SslCertificate.objects.get(site=site)
    assert cert.status == CertStatus.PENDING and cert.provider == Provider.LETSENCRYPT
    assert job.type == "ssl.issue" and job.payload["certificate_id"] == str(cert.pk)
    assert job.site_id == site.pk and job.created_by == owner
    entry = AuditLog.objects.get(action="ssl.request")
    assert entry.actor == owner and entry.target_id == str(cert.pk)


def test_request_reuses_the_row_and_keeps_an_installed_certificates_status(owner):
    site = SiteFactory(created_by=owner)
    expires = timezone.now() + dt.timedelta(days=20)
    cert = _cert(site, expires_at=expires)
    certificate_request(user=owner, site=site)
    cert.refresh_from_db()
    assert SslCertificate.objects.filter(site=site).count() == 1
    assert cert.status == CertStatus.ISSUED  # it still serves until replaced


def test_a_failed_row_goes_back_to_pending(owner):
    site = SiteFactory(created_by=owner)
    cert = _cert(site, status=CertStatus.FAILED, error_message="nope")
    certificate_request(user=owner, site=site)
    cert.refresh_from_db()
    assert cert.status == CertStatus.PENDING


def test_one_issuance_in_flight_per_site(owner):
    site = SiteFactory(created_by=owner)
    certificate_request(user=owner, site=site)
    with pytest.raises(JobBusy):
        certificate_request(user=owner, site=site)
    assert Job.objects.filter(site_id=site.pk).count() == 1


@pytest.mark.parametrize("status", [SiteStatus.PROVISIONING, SiteStatus.FAILED])
def test_site_must_be_active(owner, status):
    site = SiteFactory(created_by=owner, status=status)
    with pytest.raises(ValidationError):
        certificate_request(user=owner, site=site)
    assert not SslCertificate.objects.exists() and not Job.objects.exists()


def test_renewal_picks_acme_certificates_inside_the_window_only(settings, owner):
    settings.NUSANTARA_RENEW_BEFORE_DAYS = 30
    now = timezone.now()
    soon = _cert(SiteFactory(created_by=owner), expires_at=now + dt.timedelta(days=10))
    _cert(SiteFactory(created_by=owner), expires_at=now + dt.timedelta(days=60))
    _cert(
        SiteFactory(created_by=owner),
        provider=Provider.CUSTOM,
        expires_at=now + dt.timedelta(days=5),
    )
    _cert(SiteFactory(created_by=owner), status=CertStatus.PENDING)
    backing_off = _cert(
        SiteFactory(created_by=owner),
        expires_at=now + dt.timedelta(days=10),
        next_attempt_at=now + dt.timedelta(hours=5),
    )
    expired = _cert(
        SiteFactory(created_by=owner), status=CertStatus.EXPIRED, expires_at=now - dt.timedelta(1)
    )
    assert set(due_for_renewal(now)) == {soon, expired}
    later = now + dt.timedelta(hours=6)
    assert backing_off in set(due_for_renewal(later))


def test_renewal_run_queues_renew_jobs_and_records_that_it_ran(owner):
    now = timezone.now()
    cert = _cert(SiteFactory(created_by=owner), expires_at=now + dt.timedelta(days=3))
    custom = _cert(
        SiteFactory(created_by=owner), provider=Provider.CUSTOM, expires_at=now + dt.timedelta(3)
    )
    result = renewal_run()
    assert result["queued"] == 1
    job = Job.objects.get()
    assert job.type == "ssl.renew" and job.payload["certificate_id"] == str(cert.pk)
    assert not Job.objects.filter(site_id=custom.site_id).exists()
    assert last_renewal_run() is not None
    # A second run while the renewal is in flight does not queue another one.
    assert renewal_run()["busy"] == 1
    assert Job.objects.count() == 1


def test_past_expiry_becomes_expired_with_an_audit_entry(time_machine, owner):
    expires = timezone.now() + dt.timedelta(days=5)
    cert = _cert(SiteFactory(created_by=owner), provider=Provider.CUSTOM, expires_at=expires)
    assert mark_expired() == 0
    time_machine.move_to(expires + dt.timedelta(minutes=1))
    assert mark_expired() == 1
    cert.refresh_from_db()
    assert cert.status == CertStatus.EXPIRED
    assert AuditLog.objects.filter(action="ssl.expired", target_id=str(cert.pk)).exists()


def test_backoff_grows_but_never_stops():
    now = timezone.now()
    far = now + dt.timedelta(days=25)
    steps = [backoff(n, far, now) - now for n in range(1, 6)]
    assert steps == sorted(steps)
    assert all(dt.timedelta(hours=12) < s <= dt.timedelta(days=4) for s in steps)
    # In the last week before expiry: every day.
    assert backoff(5, now + dt.timedelta(days=3), now) - now < dt.timedelta(days=1)


def test_renewal_schedule_exists_once():
    from django_q.models import Schedule

    ensure_schedules()
    ensure_schedules()
    schedule = Schedule.objects.get(name="ssl-renewal")
    assert schedule.func == "panel.certificates.services.renewal_run"
    assert schedule.schedule_type == Schedule.DAILY


def test_renew_command_dry_run_lists_and_changes_nothing(owner):
    from io import StringIO

    from django.core.management import call_command

    now = timezone.now()
    site = SiteFactory(created_by=owner)
    _cert(site, expires_at=now + dt.timedelta(days=2))
    out = StringIO()
    call_command("renew_certificates", "--dry-run", stdout=out)
    assert f"would renew: {site.domain}" in out.getvalue()
    assert not Job.objects.exists()
    call_command("renew_certificates", stdout=out)
    assert "renewals queued: 1" in out.getvalue()
    assert Job.objects.get().type == "ssl.renew"
