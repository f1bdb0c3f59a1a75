"""User management pages (admins) and the services behind them."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from panel.accounts.models import Role, User
from panel.audit.models import AuditLog
from tests.factories import PASSWORD, UserFactory

from .conftest import login

pytestmark = pytest.mark.django_db
UA = "Mozilla/5.0 TestBrowser/2.0"
NEW_PASSWORD = "Tr0pical-Mangosteen-77"


def test_list_shows_users_and_searches(admin_client: Client, owner, outsider) -> None:
    response = admin_client.get("/users/")
    assert response.status_code == 200
    assert {u.username for u in response.context["page"]} == {"admin", "owner", "outsider"}
    response = admin_client.get("/users/?q=own")
    assert [u.username for u in response.context["page"]] == ["owner"]


def test_list_runs_a_fixed_number_of_queries(admin_client: Client, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        admin_client.get("/users/")
    UserFactory.create_batch(30)
    with django_assert_num_queries(len(few.captured_queries)):
        admin_client.get("/users/")


def test_admin_creates_a_user_who_can_then_sign_in(admin_client: Client) -> None:
    response = admin_client.post(
        "/users/new/",
        {"username": "budi", "role": "user", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        HTTP_USER_AGENT=UA,
    )
    budi = User.objects.get(username="budi")
    assert response["Location"] == f"/users/{budi.pk}/"
    assert budi.role == Role.USER and budi.is_active
    assert budi.password != NEW_PASSWORD
    entry = AuditLog.objects.get(action="user.create")
    assert entry.actor.username == "admin"
    assert NEW_PASSWORD not in str(entry.metadata)
    assert entry.metadata["ip"] == "127.0.0.1"
    assert login(Client(), "budi", NEW_PASSWORD).status_code == 302


def test_create_rejects_duplicate_username_weak_and_mismatched_passwords(admin_client, owner):
    cases = [
        {"username": "OWNER", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        {"username": "siti", "password1": "12345678", "password2": "12345678"},
        {"username": "siti", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"},
    ]
    for data in cases:
        response = admin_client.post("/users/new/", {"role": "user", **data})
        assert response.status_code == 200
        assert response.context["form"].errors
    assert not User.objects.filter(username="siti").exists()
    assert not AuditLog.objects.filter(action="user.create").exists()


def test_field_errors_are_tied_to_their_fields(admin_client: Client, owner) -> None:
    response = admin_client.post(
        "/users/new/",
        {"username": "owner", "role": "user", "password1": NEW_PASSWORD, "password2": "x"},
    )
    html = response.content.decode()
    assert '<label for="id_username"' in html
    username = re.search(r"<input[^>]*id=\"id_username\"[^>]*>", html).group(0)
    assert 'aria-invalid="true"' in username
    assert "id_username_error" in username
    assert 'id="id_username_error"' in html
    assert 'id="id_password2_error"' in html


def test_role_change_is_audited_with_ip_and_user_agent(admin_client: Client, owner) -> None:
    response = admin_client.post(
        f"/users/{owner.pk}/", {"action": "role", "role": "admin"}, HTTP_USER_AGENT=UA
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN and owner.is_staff
    entry = AuditLog.objects.get(action="user.role_change")
    assert entry.target_id == str(owner.pk)
    assert entry.metadata == {
        "username": "owner",
        "from": "user",
        "to": "admin",
        "ip": "127.0.0.1",
        "user_agent": UA,
    }


def test_last_active_admin_cannot_demote_or_deactivate_themselves(admin_client, admin_user):
    response = admin_client.post(f"/users/{admin_user.pk}/", {"action": "role", "role": "user"})
    assert response.status_code == 400
    assert "last active admin" in response.content.decode()
    response = admin_client.post(f"/users/{admin_user.pk}/", {"action": "deactivate"})
    assert response.status_code == 400
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN and admin_user.is_active
    assert not AuditLog.objects.filter(action__startswith="user.").exists()


def test_an_admin_may_step_down_when_another_admin_remains(admin_client, admin_user) -> None:
    UserFactory(username="admin2", role=Role.ADMIN)
    response = admin_client.post(f"/users/{admin_user.pk}/", {"action": "role", "role": "user"})
    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert admin_user.role == Role.USER
    # Now a plain user: the page is gone for them.
    assert admin_client.get("/users/").status_code == 404


def test_an_inactive_admin_does_not_count_as_the_remaining_admin(admin_client, admin_user):
    UserFactory(username="admin2", role=Role.ADMIN, is_active=False)
    response = admin_client.post(f"/users/{admin_user.pk}/", {"action": "role", "role": "user"})
    assert response.status_code == 400


def test_deactivation_ends_the_users_sessions_and_blocks_login(admin_client, owner) -> None:
    owner_client = Client()
    login(owner_client, "owner", PASSWORD)
    assert owner_client.get("/accounts/password/").status_code == 200

    admin_client.post(f"/users/{owner.pk}/", {"action": "deactivate"}, HTTP_USER_AGENT=UA)

    assert owner_client.get("/accounts/password/").status_code == 302
    assert login(Client(), "owner", PASSWORD).status_code == 200
    entry = AuditLog.objects.get(action="user.deactivate")
    assert entry.metadata["user_agent"] == UA
    admin_client.post(f"/users/{owner.pk}/", {"action": "activate"})
    assert login(Client(), "owner", PASSWORD).status_code == 302


def test_admin_resets_a_password_without_it_reaching_the_audit_log(admin_client, owner):
    response = admin_client.post(
        f"/users/{owner.pk}/",
        {"action": "password", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    entry = AuditLog.objects.get(action="user.password_reset")
    assert NEW_PASSWORD not in str(entry.metadata)


def test_admin_resetting_their_own_password_stays_signed_in(admin_client, admin_user) -> None:
    response = admin_client.post(
        f"/users/{admin_user.pk}/",
        {"action": "password", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert admin_client.get("/users/").status_code == 200
    assert AuditLog.objects.filter(action="user.password_change").exists()


def test_password_reset_with_mismatch_shows_the_field_error(admin_client, owner) -> None:
    response = admin_client.post(
        f"/users/{owner.pk}/",
        {"action": "password", "new_password1": NEW_PASSWORD, "new_password2": "other"},
    )
    assert response.status_code == 400
    assert response.context["password_form"].errors["new_password2"]
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_user_pages_need_csrf(csrf_client: Client, admin_user, owner) -> None:
    csrf_client.force_login(admin_user)
    response = csrf_client.post(f"/users/{owner.pk}/", {"action": "role", "role": "admin"})
    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.role == Role.USER


def test_unknown_user_is_404(admin_client: Client) -> None:
    assert admin_client.get("/users/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_everyone_changes_their_own_password(client: Client, owner) -> None:
    login(client, "owner", PASSWORD)
    response = client.post(
        "/accounts/password/",
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200 and response.context["form"].errors["old_password"]
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    # This session survives the change.
    assert client.get("/accounts/password/").status_code == 200
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    entry = AuditLog.objects.get(action="user.password_change")
    assert entry.actor == owner and NEW_PASSWORD not in str(entry.metadata)


def test_user_page_shows_their_sites_against_the_quota(admin_client, owner, settings) -> None:
    from tests.factories import SiteFactory

    settings.NUSANTARA_MAX_SITES_PER_USER = 5
    SiteFactory(created_by=owner)
    SiteFactory(created_by=owner)
    html = admin_client.get(f"/users/{owner.pk}/").content.decode()
    assert "2 of 5 sites" in html
    assert 'href="/sites/?owner=owner"' in html
    admin = User.objects.get(username="admin")
    assert "0 sites" in admin_client.get(f"/users/{admin.pk}/").content.decode()  # no quota


def test_admin_sets_a_users_site_quota(admin_client, owner, settings) -> None:
    from panel.audit.models import AuditLog
    from tests.factories import SiteFactory

    settings.NUSANTARA_MAX_SITES_PER_USER = 5
    SiteFactory(created_by=owner)
    page = admin_client.get(f"/users/{owner.pk}/").content.decode()
    assert 'name="max_sites"' in page and "the panel's default (5)" in page
    response = admin_client.post(f"/users/{owner.pk}/", {"action": "quota", "max_sites": "3"})
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.max_sites == 3
    assert "1 of 3 sites" in admin_client.get(f"/users/{owner.pk}/").content.decode()
    entry = AuditLog.objects.get(action="user.quota_change")
    assert entry.metadata["from"] is None and entry.metadata["to"] == 3
    assert entry.target_id == str(owner.pk)

    # Empty goes back to the default.
    admin_client.post(f"/users/{owner.pk}/", {"action": "quota", "max_sites": ""})
    owner.refresh_from_db()
    assert owner.max_sites is None
    assert "1 of 5 sites" in admin_client.get(f"/users/{owner.pk}/").content.decode()


@pytest.mark.parametrize("value", ["-1", "10001", "lots", "1e3", "3; DROP TABLE users"])
def test_a_bad_site_quota_is_refused_on_the_field(admin_client, owner, value) -> None:
    from panel.audit.models import AuditLog

    response = admin_client.post(f"/users/{owner.pk}/", {"action": "quota", "max_sites": value})
    assert response.status_code == 400
    assert 'id="id_max_sites_error"' in response.content.decode()
    owner.refresh_from_db()
    assert owner.max_sites is None
    assert not AuditLog.objects.filter(action="user.quota_change").exists()


def test_a_user_cannot_set_a_quota(owner_client, owner) -> None:
    response = owner_client.post(f"/users/{owner.pk}/", {"action": "quota", "max_sites": "99"})
    assert response.status_code in (403, 404)
    owner.refresh_from_db()
    assert owner.max_sites is None


def test_the_quota_service_refuses_out_of_range_values(admin_user, owner) -> None:
    from django.core.exceptions import ValidationError

    from panel.accounts.services import user_set_max_sites

    for value in (-1, 10_001):
        with pytest.raises(ValidationError):
            user_set_max_sites(actor=admin_user, user=owner, max_sites=value)
