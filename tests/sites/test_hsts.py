"""site_set_hsts: who may switch HSTS, when, and what it queues (the vhost itself:
tests/sites/test_tls_profile.py; through the worker: tests/certificates/test_hsts.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from panel.audit.models import AuditLog
from panel.certificates.models import CertStatus, SslCertificate
from panel.jobs.models import Job
from panel.jobs.services import JobBusy
from panel.sites.models import SiteStatus
from panel.sites.services import site_set_hsts, site_update
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def _with_certificate(site, status=CertStatus.ISSUED):
    SslCertificate.objects.create(
        site=site, status=status, expires_at=timezone.now() + dt.timedelta(days=60)
    )
    return site


def test_new_sites_have_hsts_off(owner):
    assert SiteFactory(created_by=owner).hsts is False


def test_owner_switches_hsts_on_through_a_job(owner):
    site = _with_certificate(SiteFactory(created_by=owner))
    job = site_set_hsts(user=owner, site=site, enabled=True)
    assert (job.type, job.status, job.payload) == (
        "site.hsts",
        "queued",
        {"domain": site.domain, "enabled": True},
    )
    site.refresh_from_db()
    assert site.hsts is False  # the worker sets it once nginx serves the new vhost
    entry = AuditLog.objects.get(action="site.hsts", target_id=str(site.pk))
    assert entry.actor == owner and entry.metadata["enabled"] is True


def test_admin_may_switch_it_for_any_site_and_outsiders_may_not(owner, outsider, admin_user):
    site = _with_certificate(SiteFactory(created_by=owner))
    with pytest.raises(PermissionDenied):
        site_set_hsts(user=outsider, site=site, enabled=True)
    assert site_set_hsts(user=admin_user, site=site, enabled=True).created_by == admin_user


def test_hsts_rules(owner):
    no_cert = SiteFactory(created_by=owner)
    with pytest.raises(ValidationError, match="get a certificate for the site first"):
        site_set_hsts(user=owner, site=no_cert, enabled=True)
    failed_cert = _with_certificate(SiteFactory(created_by=owner), CertStatus.FAILED)
    with pytest.raises(ValidationError, match="certificate"):
        site_set_hsts(user=owner, site=failed_cert, enabled=True)
    with pytest.raises(ValidationError, match="already off"):
        site_set_hsts(user=owner, site=no_cert, enabled=False)
    on = _with_certificate(SiteFactory(created_by=owner, hsts=True))
    with pytest.raises(ValidationError, match="already on"):
        site_set_hsts(user=owner, site=on, enabled=True)
    # Switching off never needs a certificate (e.g. it has expired or was removed).
    on_without_cert = SiteFactory(created_by=owner, hsts=True)
    job = site_set_hsts(user=owner, site=on_without_cert, enabled=False)
    assert job.payload["enabled"] is False
    setting_up = _with_certificate(SiteFactory(created_by=owner, status=SiteStatus.PROVISIONING))
    with pytest.raises(ValidationError, match="once the site is active"):
        site_set_hsts(user=owner, site=setting_up, enabled=True)
    busy = _with_certificate(SiteFactory(created_by=owner))
    site_update(user=owner, site=busy, runtime="php")
    with pytest.raises(JobBusy):
        site_set_hsts(user=owner, site=busy, enabled=True)
    assert Job.objects.filter(type="site.hsts").count() == 1
