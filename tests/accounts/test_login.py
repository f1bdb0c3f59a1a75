"""Password login and logout through Django's auth views, with audit entries and V0 hashes."""

from __future__ import annotations

import bcrypt
import pytest
from django.test import Client

from panel.accounts.models import User
from panel.audit.models import AuditLog
from tests.factories import PASSWORD, UserFactory

from .conftest import FAST_HASHER, login

pytestmark = pytest.mark.django_db
UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


def test_login_page_renders_a_labelled_form(client: Client) -> None:
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username"' in html
    assert '<label for="id_password"' in html
    assert "csrfmiddlewaretoken" in html


def test_valid_password_signs_in_and_records_ip_and_user_agent(client: Client, owner) -> None:
    response = login(client, "owner", PASSWORD, HTTP_USER_AGENT=UA)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(owner.pk)
    entry = AuditLog.objects.get(action="auth.login")
    assert entry.actor == owner
    assert entry.target_id == str(owner.pk)
    assert entry.metadata == {"ip": "127.0.0.1", "user_agent": UA}


def test_wrong_password_is_refused_and_audited_without_the_password(client: Client, owner) -> None:
    response = login(client, "owner", "not-the-password", HTTP_USER_AGENT=UA)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert response.context["form"].errors
    entry = AuditLog.objects.get(action="auth.login_failed")
    assert entry.actor is None
    assert entry.metadata["username"] == "owner"
    assert entry.metadata["ip"] == "127.0.0.1"
    assert entry.metadata["user_agent"] == UA
    assert "not-the-password" not in str(entry.metadata)


def test_deactivated_user_cannot_sign_in(client: Client) -> None:
    UserFactory(username="gone", is_active=False)
    response = login(client, "gone", PASSWORD)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert not AuditLog.objects.filter(action="auth.login").exists()


def test_login_honours_a_safe_next_and_ignores_an_external_one(client: Client, owner) -> None:
    response = client.post(
        "/accounts/login/", {"username": "owner", "password": PASSWORD, "next": "/users/"}
    )
    assert response["Location"] == "/users/"
    client.post("/accounts/logout/")
    response = client.post(
        "/accounts/login/",
        {"username": "owner", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_logout_by_get_is_not_allowed(owner_client: Client) -> None:
    assert owner_client.get("/accounts/logout/").status_code == 405


def test_logout_by_post_ends_the_session_and_is_audited(client: Client, owner) -> None:
    login(client, "owner", PASSWORD, HTTP_USER_AGENT=UA)
    response = client.post("/accounts/logout/", HTTP_USER_AGENT=UA)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session
    entry = AuditLog.objects.get(action="auth.logout")
    assert entry.actor == owner
    assert entry.metadata == {"ip": "127.0.0.1", "user_agent": UA}


def test_logout_needs_csrf_token(csrf_client: Client, owner) -> None:
    csrf_client.force_login(owner)
    assert csrf_client.post("/accounts/logout/").status_code == 403


def test_v0_bcrypt_hash_signs_in_and_is_rehashed(client: Client, settings) -> None:
    # The production hasher list, so that the upgrade goes to PBKDF2 as it would live.
    settings.PASSWORD_HASHERS = [h for h in settings.PASSWORD_HASHERS if h != FAST_HASHER]
    v0 = bcrypt.hashpw(b"v0-secret-pass", bcrypt.gensalt(rounds=4)).decode()
    user = UserFactory(username="legacy")
    User.objects.filter(pk=user.pk).update(password=f"bcrypt_v0${v0}")

    response = login(client, "legacy", "v0-secret-pass")

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha256$")
    assert user.check_password("v0-secret-pass")


def test_v0_bcrypt_hash_rejects_a_wrong_password(client: Client) -> None:
    v0 = bcrypt.hashpw(b"v0-secret-pass", bcrypt.gensalt(rounds=4)).decode()
    user = UserFactory(username="legacy")
    User.objects.filter(pk=user.pk).update(password=f"bcrypt_v0${v0}")
    assert login(client, "legacy", "wrong").status_code == 200
    user.refresh_from_db()
    assert user.password == f"bcrypt_v0${v0}"
