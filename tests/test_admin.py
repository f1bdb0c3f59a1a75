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


def test_admin_changes_the_role_and_it_is_audited(admin_client, owner):
    response = admin_client.post(
        _url(owner), {"username": owner.username, "role": "admin", "is_active": "on"}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN
    entry = AuditLog.objects.get(action="admin.user.change")
    assert entry.metadata["role"] == "admin"
    assert entry.metadata["fields"]


def test_users_are_deactivated_not_deleted(admin_client, admin_user, records):
    owner = records["user"]
    assert admin_client.get(_url(owner, "delete")).status_code == 403
    admin_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate", "_selected_action": [owner.pk, admin_user.pk]},
    )
    owner.refresh_from_db()
    admin_user.refresh_from_db()
    assert owner.is_active is False
    assert admin_user.is_active is True  # the acting admin never locks themself out
    assert User.objects.filter(pk=owner.pk).exists()


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
def test_sites_and_certificates_are_not_added_or_deleted_in_the_admin(admin_client, records, name):
    obj = records[name]
    meta = obj._meta
    assert (
        admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add")).status_code
        == 403
    )
    assert admin_client.post(_url(obj, "delete"), {"post": "yes"}).status_code == 403
    assert meta.model.objects.filter(pk=obj.pk).exists()


def test_editing_a_site_record_is_audited(admin_client, admin_user, records):
    site = records["site"]
    response = admin_client.post(
        _url(site),
        {
            "domain": site.domain,
            "runtime": site.runtime,
            "status": "failed",
            "root_path": site.root_path,
            "upstream": "",
            "created_by": str(site.created_by_id),
            "certificates-TOTAL_FORMS": "1",
            "certificates-INITIAL_FORMS": "1",
            "certificates-MIN_NUM_FORMS": "0",
            "certificates-MAX_NUM_FORMS": "1000",
            "certificates-0-id": str(records["sslcertificate"].pk),
            "certificates-0-site": str(site.pk),
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    site.refresh_from_db()
    assert site.status == "failed"
    assert AuditLog.objects.filter(
        action="admin.site.change", actor=admin_user, target_id=str(site.pk)
    ).exists()


def test_unknown_object_is_not_found(admin_client):
    url = reverse("admin:accounts_user_change", args=[uuid.uuid4()])
    # The admin redirects to its index with a "does not exist" message.
    assert admin_client.get(url).status_code == 302


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(admin_client, admin_user):
    for data in ({"role": "user", "is_active": "on"}, {"role": "admin"}):
        response = admin_client.post(_url(admin_user), {"username": admin_user.username, **data})
        assert response.status_code == 200
        assert "last active admin" in str(response.context["adminform"].form.non_field_errors())
    admin_user.refresh_from_db()
    assert (admin_user.role, admin_user.is_active) == (Role.ADMIN, True)


def test_an_admin_can_be_demoted_while_another_remains(admin_client, admin_user):
    other = UserFactory(username="other-admin", role=Role.ADMIN)
    response = admin_client.post(
        _url(other), {"username": other.username, "role": "user", "is_active": "on"}
    )
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.role == Role.USER
