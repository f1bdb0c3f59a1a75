"""site_create / site_update / site_delete: validation, quota, uniqueness, one transaction with
job + audit."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from panel.audit.models import AuditLog
from panel.jobs.models import Job
from panel.jobs.services import JobBusy
from panel.sites.models import Site, SiteStatus
from panel.sites.services import (
    normalize_upstream,
    site_create,
    site_delete,
    site_suspend,
    site_update,
)
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_create_writes_site_job_and_audit_together(owner, settings):
    site = site_create(user=owner, domain=" Bücher.Example. ", runtime="static")
    assert site.domain == "xn--bcher-kva.example"
    assert site.status == SiteStatus.PROVISIONING
    assert site.root_path == str(settings.NUSANTARA_WEB_ROOT / "xn--bcher-kva.example" / "public")
    assert re.fullmatch(r"np[0-9a-f]{10}", site.system_user)
    assert site.system_user == "np" + site.pk.hex[:10]
    job = Job.objects.get(site_id=site.pk)
    assert (job.type, job.status, job.created_by) == ("site.provision", "queued", owner)
    assert job.payload["https"] is False  # no certificate unless asked for
    entry = AuditLog.objects.get(action="site.create")
    assert entry.target_id == str(site.pk) and entry.actor == owner


@pytest.mark.parametrize("spelling", ["example.com", "EXAMPLE.com", "example.com."])
def test_duplicate_domain_in_any_spelling_is_refused(owner, spelling):
    site_create(user=owner, domain="Example.COM", runtime="static")
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain=spelling, runtime="static")
    assert "is already used by a site" in str(exc.value.message_dict["domain"])
    assert Site.objects.count() == 1


def test_invalid_domain_is_keyed_to_the_domain_field(owner):
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain="a.com;", runtime="static")
    assert "domain" in exc.value.message_dict
    assert not Site.objects.exists() and not Job.objects.exists()


def test_unknown_runtime_is_refused(owner):
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain="a.example", runtime="cgi")
    assert "runtime" in exc.value.message_dict


@pytest.mark.parametrize(
    "value",
    [
        "",
        "localhost",
        "localhost:0",
        "localhost:65536",
        "a b:80",
        "host:80;",
        "[::1]",
        "$host:80",
        "1.2.3.4:8080/x",
        "host:８０",
        "-bad:80",
        "[nope]:80",
        "http://x:80",
        "a\n.b:80",  # a newline inside the host would end up inside the nginx directive
        "host\n:80",
        "host:080",  # a leading zero: one spelling per port
        "host:+80",
    ],
)
def test_bad_upstream_is_refused(owner, value):
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain="p.example", runtime="proxy", upstream=value)
    assert "upstream" in exc.value.message_dict


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:3000", "127.0.0.1:3000"),
        ("App.Internal:80", "app.internal:80"),
        ("[::1]:8080", "[::1]:8080"),
        ("localhost:1", "localhost:1"),
    ],
)
def test_good_upstream_is_normalised(value, expected):
    assert normalize_upstream(value) == expected


def test_upstream_is_ignored_for_non_proxy_runtimes(owner):
    site = site_create(user=owner, domain="s.example", runtime="static", upstream="x:1")
    assert site.upstream is None


def test_user_quota(owner, settings):
    settings.NUSANTARA_MAX_SITES_PER_USER = 2
    site_create(user=owner, domain="one.example", runtime="static")
    site_create(user=owner, domain="two.example", runtime="static")
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain="three.example", runtime="static")
    assert "limit of 2 sites" in str(exc.value.message_dict["__all__"])


def test_per_user_quota_replaces_the_default(owner, outsider, settings):
    settings.NUSANTARA_MAX_SITES_PER_USER = 1
    owner.max_sites = 2
    owner.save()
    site_create(user=owner, domain="one.example", runtime="static")
    site_create(user=owner, domain="two.example", runtime="static")  # beyond the default
    with pytest.raises(ValidationError) as exc:
        site_create(user=owner, domain="three.example", runtime="static")
    assert "limit of 2 sites" in str(exc.value.message_dict["__all__"])
    # NULL is the default; 0 allows none.
    site_create(user=outsider, domain="four.example", runtime="static")
    outsider.max_sites = 0
    outsider.save()
    owner_sites = owner.sites.count()
    with pytest.raises(ValidationError):
        site_create(user=outsider, domain="five.example", runtime="static")
    assert (owner.sites.count(), outsider.sites.count()) == (owner_sites, 1)


def test_admin_creating_for_a_user_at_quota_must_override(admin_user, owner, settings):
    settings.NUSANTARA_MAX_SITES_PER_USER = 5
    owner.max_sites = 0
    owner.save()
    with pytest.raises(ValidationError) as exc:
        site_create(user=admin_user, owner=owner, domain="a.example", runtime="static")
    message = str(exc.value.message_dict["override_quota"])
    assert "owner already has 0 sites" in message and "overrides the user's quota" in message
    assert not Site.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="site.").exists()

    site = site_create(
        user=admin_user, owner=owner, domain="a.example", runtime="static", override_quota=True
    )
    assert site.created_by == owner
    entry = AuditLog.objects.get(action="site.quota_override")
    assert (entry.actor, entry.target_id) == (admin_user, str(site.pk))
    assert entry.metadata == {"domain": "a.example", "owner": "owner", "limit": 0, "sites": 0}


def test_admin_within_a_users_quota_needs_no_override(admin_user, owner):
    owner.max_sites = 1
    owner.save()
    site_create(user=admin_user, owner=owner, domain="a.example", runtime="static")
    assert not AuditLog.objects.filter(action="site.quota_override").exists()


def test_admins_own_sites_have_no_quota(admin_user, settings):
    settings.NUSANTARA_MAX_SITES_PER_USER = 0
    assert site_create(user=admin_user, domain="a.example", runtime="static").pk


def test_user_cannot_create_for_another_user(owner, outsider):
    with pytest.raises(PermissionDenied):
        site_create(user=owner, owner=outsider, domain="a.example", runtime="static")


def test_delete_marks_deleting_and_queues_job(owner):
    site = SiteFactory(created_by=owner)
    job = site_delete(user=owner, site=site)
    site.refresh_from_db()
    assert site.status == SiteStatus.DELETING
    assert (job.type, job.status) == ("site.delete", "queued")
    assert AuditLog.objects.filter(action="site.delete", target_id=str(site.pk)).exists()


def test_delete_while_a_job_is_active_is_busy(owner):
    site = site_create(user=owner, domain="busy.example", runtime="static")
    with pytest.raises(JobBusy):
        site_delete(user=owner, site=site)
    site.refresh_from_db()
    assert site.status == SiteStatus.PROVISIONING


def test_outsider_cannot_delete(owner, outsider):
    site = SiteFactory(created_by=owner)
    with pytest.raises(PermissionDenied):
        site_delete(user=outsider, site=site)


def test_update_queues_a_job_and_leaves_the_row_until_nginx_accepts(owner):
    site = SiteFactory(created_by=owner)
    job = site_update(user=owner, site=site, runtime="proxy", upstream=" LocalHost:8080 ")
    assert (job.type, job.status) == ("site.update", "queued")
    assert job.payload["runtime"] == "proxy" and job.payload["upstream"] == "localhost:8080"
    assert job.payload["previous"] == {"runtime": "static", "upstream": None, "status": "active"}
    site.refresh_from_db()
    # Still served as before: the worker stores the new runtime once nginx accepted it.
    assert (site.runtime, site.upstream, site.status) == ("static", None, SiteStatus.ACTIVE)
    entry = AuditLog.objects.get(action="site.update", target_id=str(site.pk))
    assert entry.metadata["to"] == {"runtime": "proxy", "upstream": "localhost:8080"}
    assert entry.actor == owner


def test_update_to_the_same_settings_is_refused(owner):
    site = SiteFactory(created_by=owner, runtime="proxy", upstream="127.0.0.1:3000")
    with pytest.raises(ValidationError) as exc:
        site_update(user=owner, site=site, runtime="proxy", upstream="127.0.0.1:3000")
    assert "Nothing to change" in str(exc.value)
    assert not Job.objects.filter(site_id=site.pk).exists()


def test_update_with_a_bad_upstream_names_the_field(owner):
    site = SiteFactory(created_by=owner)
    with pytest.raises(ValidationError) as exc:
        site_update(user=owner, site=site, runtime="proxy", upstream="127.0.0.1:99999")
    assert "1 to 65535" in str(exc.value.message_dict["upstream"])
    assert not Job.objects.filter(site_id=site.pk).exists()


def test_update_while_busy_or_not_yet_active_is_refused(owner):
    site = site_create(user=owner, domain="setting-up.example", runtime="static")
    with pytest.raises(ValidationError) as exc:
        site_update(user=owner, site=site, runtime="php")
    assert "once it is active" in str(exc.value)
    active = SiteFactory(created_by=owner)
    site_update(user=owner, site=active, runtime="php")
    with pytest.raises(JobBusy):
        site_update(user=owner, site=active, runtime="static")
    assert Job.objects.filter(site_id=active.pk).count() == 1


def test_update_of_a_failed_site_is_a_new_attempt(owner):
    site = SiteFactory(created_by=owner, status=SiteStatus.FAILED)
    site_update(user=owner, site=site, runtime="static")  # same runtime: a retry, allowed
    site.refresh_from_db()
    assert site.status == SiteStatus.PROVISIONING


def test_outsider_cannot_update(owner, outsider):
    site = SiteFactory(created_by=owner)
    with pytest.raises(PermissionDenied):
        site_update(user=outsider, site=site, runtime="php")


def test_admin_suspends_with_a_reason_through_a_job(admin_user, owner):
    site = SiteFactory(created_by=owner)
    job = site_suspend(user=admin_user, site=site, suspend=True, reason="  Invoice   unpaid ")
    assert (job.type, job.status, job.payload["reason"]) == (
        "site.suspend",
        "queued",
        "Invoice unpaid",
    )
    site.refresh_from_db()
    assert site.suspended_at is None  # the worker sets it once nginx serves the 503
    entry = AuditLog.objects.get(action="site.suspend", target_id=str(site.pk))
    assert entry.actor == admin_user and entry.metadata["reason"] == "Invoice unpaid"


def test_owner_cannot_delete_a_suspended_site_but_an_admin_can(admin_user, owner):
    from django.utils import timezone

    site = SiteFactory(created_by=owner, suspended_at=timezone.now())
    with pytest.raises(ValidationError) as exc:
        site_delete(user=owner, site=site)
    assert exc.value.error_dict["__all__"][0].code == "suspended"
    assert "only an administrator can delete it" in exc.value.messages[0]
    site.refresh_from_db()
    assert site.status == SiteStatus.ACTIVE
    assert not Job.objects.filter(type="site.delete").exists()
    assert not AuditLog.objects.filter(action="site.delete").exists()

    job = site_delete(user=admin_user, site=site)
    assert job.type == "site.delete"
    site.refresh_from_db()
    assert site.status == SiteStatus.DELETING


def test_suspension_rules(admin_user, owner):
    site = SiteFactory(created_by=owner)
    with pytest.raises(PermissionDenied):
        site_suspend(user=owner, site=site, suspend=True, reason="x")
    with pytest.raises(ValidationError) as exc:
        site_suspend(user=admin_user, site=site, suspend=True, reason="  ")
    assert "reason" in exc.value.message_dict
    with pytest.raises(ValidationError, match="not suspended"):
        site_suspend(user=admin_user, site=site, suspend=False)
    busy = SiteFactory(created_by=owner)
    site_update(user=owner, site=busy, runtime="php")
    with pytest.raises(JobBusy):
        site_suspend(user=admin_user, site=busy, suspend=True, reason="abuse")
    setting_up = SiteFactory(created_by=owner, status=SiteStatus.PROVISIONING)
    with pytest.raises(ValidationError, match="Only an active site"):
        site_suspend(user=admin_user, site=setting_up, suspend=True, reason="abuse")
    assert not Job.objects.filter(type__in=["site.suspend", "site.resume"]).exists()
