"""Django admin: role admin gets it, role user does not; raw records are browsable; passwords go
through Django's forms; audit log and jobs cannot be edited; users are deactivated, not deleted."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from panel.accounts.models import Role, User
from panel.audit.models import AuditLog
from panel.certificates.models import SslCertificate
from panel.jobs.models import Job

from .factories import PASSWORD, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Another-long-passphrase-42"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    # PBKDF2 costs ~1 s per hash on the 2-core CI machine; these tests are about the admin.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def records(owner):
    site = SiteFactory(created_by=owner, domain="kopi.example.com")
    cert = SslCertificate.objects.create(site=site, status="issued", serial="0a1b")
    job = Job.objects.create(
        type="site.create", status="success", created_by=owner, site_id=site.pk, payload={"a": 1}
    )
    entry = AuditLog.objects.create(actor=owner, action="site.create", target_type="site")
    return {"user": owner, "site": site, "sslcertificate": cert, "job": job, "auditlog": entry}


def _url(obj, view: str = "change") -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])


def test_role_admin_gets_the_admin_index(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert b"accounts/user/" in response.content


def test_role_user_is_sent_to_the_admin_login(owner_client):
    response = owner_client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert owner_client.get("/admin/accounts/user/").status_code == 302


def test_role_user_cannot_log_in_to_the_admin(owner):
    client = Client()
    client.post("/admin/login/", {"username": owner.username, "password": PASSWORD})
    assert client.get("/admin/").status_code == 302


def test_deactivated_admin_loses_the_admin(admin_user, admin_client):
    User.objects.filter(pk=admin_user.pk).update(is_active=False)
    assert admin_client.get("/admin/").status_code == 302


@pytest.mark.parametrize("name", ["user", "site", "sslcertificate", "job", "auditlog"])
def test_every_table_has_a_list_with_search_and_filters_and_a_detail_page(
    admin_client, records, name
):
    obj = records[name]
    meta = obj._meta
    changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    response = admin_client.get(changelist)
    assert response.status_code == 200
    assert response.context["cl"].result_count == meta.model.objects.count() >= 1
    assert response.context["cl"].has_filters
    found = admin_client.get(changelist, {"q": str(obj.pk) if name == "job" else "kopi"})
    assert found.status_code == 200
    assert admin_client.get(changelist, {"q": "no-such-thing-xyz"}).context["cl"].result_count == 0
    assert admin_client.get(_url(obj)).status_code == 200


def test_job_search_by_site_id_finds_its_jobs(admin_client, records):
    response = admin_client.get(
        reverse("admin:jobs_job_changelist"), {"q": str(records["site"].pk)}
    )
    assert list(response.context["cl"].result_list) == [records["job"]]


def test_admin_adds_a_user_with_role_and_password(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "budi",
            "role": "admin",
            "is_active": "on",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    budi = User.objects.get(username="budi")
    assert budi.role == Role.ADMIN
    assert budi.check_password(NEW_PASSWORD)
    assert budi.password != NEW_PASSWORD
    entry = AuditLog.objects.get(action="admin.user.add")
    assert entry.actor == admin_user and entry.target_id == str(budi.pk)
    assert NEW_PASSWORD not in str(entry.metadata)


def test_add_user_refuses_mismatched_passwords(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "sari",
            "role": "user",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD + "x",
        },
    )
    assert response.status_code == 200
    assert "password2" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="sari").exists()


def test_admin_resets_a_password_through_djangos_form(admin_client, owner):
    url = reverse("admin:auth_user_password_change", args=[owner.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert type(page.context["form"]).__name__ == "AdminPasswordChangeForm"
    response = admin_client.post(
        url, {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert AuditLog.objects.filter(action="admin.user.change", target_id=str(owner.pk)).exists()


def test_role_and_active_cannot_be_edited_in_the_change_form(admin_client, owner):
    response = admin_client.post(
        _url(owner), {"username": owner.username, "role": "admin", "is_active": ""}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert (owner.role, owner.is_active) == (Role.USER, True)


def _user_action(client, action: str, *users):
    return client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": action, "_selected_action": [u.pk for u in users]},
        follow=True,
    )


def test_role_changes_go_through_the_service_and_are_audited(admin_client, admin_user, owner):
    _user_action(admin_client, "make_admin", owner)
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN
    entry = AuditLog.objects.get(action="user.role_change", target_id=str(owner.pk))
    assert entry.actor == admin_user and entry.metadata["to"] == "admin"
    _user_action(admin_client, "make_user", owner)
    owner.refresh_from_db()
    assert owner.role == Role.USER


def test_users_are_deactivated_not_deleted(admin_client, admin_user, records):
    owner = records["user"]
    assert admin_client.get(_url(owner, "delete")).status_code == 403
    response = _user_action(admin_client, "deactivate", owner, admin_user)
    owner.refresh_from_db()
    admin_user.refresh_from_db()
    assert owner.is_active is False
    assert admin_user.is_active is True  # the acting admin never locks themself out
    assert "You cannot deactivate yourself here." in response.content.decode()
    assert User.objects.filter(pk=owner.pk).exists()
    assert AuditLog.objects.filter(action="user.deactivate", target_id=str(owner.pk)).exists()


@pytest.mark.parametrize("name", ["job", "auditlog"])
def test_jobs_and_audit_log_are_read_only(admin_client, records, name):
    obj = records[name]
    meta = obj._meta
    assert (
        admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add")).status_code
        == 403
    )
    before = meta.model.objects.get(pk=obj.pk)
    response = admin_client.post(_url(obj), {"type": "tampered", "action": "tampered"})
    assert response.status_code == 403
    assert meta.model.objects.get(pk=obj.pk).__dict__.get("type") == before.__dict__.get("type")
    assert admin_client.post(_url(obj, "delete"), {"post": "yes"}).status_code == 403
    assert meta.model.objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize("name", ["site", "sslcertificate"])
def test_sites_and_certificates_are_read_only_in_the_admin(admin_client, records, name):
    obj = records[name]
    meta = obj._meta
    assert (
        admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add")).status_code
        == 403
    )
    assert admin_client.post(_url(obj, "delete"), {"post": "yes"}).status_code == 403
    assert meta.model.objects.filter(pk=obj.pk).exists()


def test_a_site_domain_cannot_be_changed_in_the_admin(admin_client, records):
    site = records["site"]
    page = admin_client.get(_url(site))
    assert page.status_code == 200 and b'name="domain"' not in page.content
    response = admin_client.post(
        _url(site),
        {
            "domain": "renamed.example.com",
            "runtime": "proxy",
            "status": "failed",
            "root_path": "/tmp/elsewhere",
            "upstream": "127.0.0.1:9",
            "created_by": str(site.created_by_id),
        },
    )
    assert response.status_code == 403
    fresh = type(site).objects.get(pk=site.pk)
    assert (fresh.domain, fresh.runtime, fresh.status, fresh.root_path) == (
        site.domain,
        site.runtime,
        site.status,
        site.root_path,
    )
    assert not AuditLog.objects.filter(action__startswith="admin.site").exists()


def _site_action(client, action: str, *sites, **extra):
    return client.post(
        reverse("admin:sites_site_changelist"),
        {"action": action, "_selected_action": [s.pk for s in sites], **extra},
        follow=True,
    )


def test_delete_action_queues_site_delete_jobs_with_audit(admin_client, admin_user, owner):
    sites = [SiteFactory(created_by=owner, domain=f"del{i}.example.com") for i in range(2)]
    _site_action(admin_client, "delete_sites", *sites)
    for site in sites:
        job = Job.objects.get(site_id=site.pk, type="site.delete")
        assert (job.status, job.created_by) == ("queued", admin_user)
        site.refresh_from_db()
        assert site.status == "deleting"  # the row goes only when the worker removed it
        assert AuditLog.objects.filter(
            action="site.delete", actor=admin_user, target_id=str(site.pk)
        ).exists()


def test_suspend_action_asks_for_a_reason_then_queues_jobs(admin_client, admin_user, owner):
    site = SiteFactory(created_by=owner, domain="naughty.example.com", status="active")
    page = _site_action(admin_client, "suspend_sites", site)
    assert page.status_code == 200 and b'name="reason"' in page.content
    assert not Job.objects.exists()
    _site_action(admin_client, "suspend_sites", site, apply="1", reason="  unpaid invoice ")
    job = Job.objects.get(site_id=site.pk)
    assert (job.type, job.payload["reason"]) == ("site.suspend", "unpaid invoice")
    assert AuditLog.objects.filter(action="site.suspend", target_id=str(site.pk)).exists()


def test_resume_action_on_a_site_that_is_not_suspended_says_why(admin_client, owner):
    site = SiteFactory(created_by=owner, domain="fine.example.com", status="active")
    response = _site_action(admin_client, "resume_sites", site)
    # The admin capitalises the first letter of each message.
    assert "Fine.example.com: This site is not suspended." in response.content.decode()
    assert not Job.objects.exists()


def test_retry_action_requeues_failed_jobs_through_the_service(admin_client, admin_user, owner):
    site = SiteFactory(created_by=owner, domain="again.example.com", status="failed")
    failed = Job.objects.create(
        type="site.provision", status="failed", site_id=site.pk, payload={}, error_message="x"
    )
    done = Job.objects.create(type="site.provision", status="success", payload={})
    admin_client.post(
        reverse("admin:jobs_job_changelist"),
        {"action": "retry_failed", "_selected_action": [failed.pk, done.pk]},
    )
    failed.refresh_from_db()
    done.refresh_from_db()
    assert (failed.status, done.status) == ("queued", "success")
    assert AuditLog.objects.filter(action="job.retry", target_id=str(failed.pk)).exists()


def test_unknown_object_is_not_found(admin_client):
    url = reverse("admin:accounts_user_change", args=[uuid.uuid4()])
    # The admin redirects to its index with a "does not exist" message.
    assert admin_client.get(url).status_code == 302


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(admin_client, admin_user):
    response = _user_action(admin_client, "make_user", admin_user)
    assert "The last active admin cannot be demoted." in response.content.decode()
    response = _user_action(admin_client, "deactivate", admin_user)
    assert "You cannot deactivate yourself here." in response.content.decode()
    response = admin_client.post(
        _url(admin_user), {"username": admin_user.username, "role": "user", "is_active": ""}
    )
    admin_user.refresh_from_db()
    assert (admin_user.role, admin_user.is_active) == (Role.ADMIN, True)
    assert not AuditLog.objects.filter(action__startswith="user.").exists()


def test_an_admin_can_be_demoted_while_another_remains(admin_client, admin_user):
    other = UserFactory(username="other-admin", role=Role.ADMIN)
    _user_action(admin_client, "make_user", other)
    other.refresh_from_db()
    assert other.role == Role.USER
