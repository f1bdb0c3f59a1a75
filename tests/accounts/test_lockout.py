"""Login throttling by IP and username (django-axes) with a clear lockout page."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from panel.audit.models import AuditLog
from tests.factories import PASSWORD

from .conftest import login

pytestmark = pytest.mark.django_db


def _fail(client: Client, username: str, times: int, ip: str = "127.0.0.1") -> None:
    for _ in range(times):
        login(client, username, "wrong-password", REMOTE_ADDR=ip)


def test_lockout_after_the_failure_limit_even_with_the_right_password(
    client: Client, owner
) -> None:
    _fail(client, "owner", settings.AXES_FAILURE_LIMIT)
    response = login(client, "owner", PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "15 minutes" in response.content.decode()


def test_below_the_limit_the_right_password_still_works(client: Client, owner) -> None:
    _fail(client, "owner", settings.AXES_FAILURE_LIMIT - 1)
    assert login(client, "owner", PASSWORD).status_code == 302


def test_lockout_is_per_ip_and_username(client: Client, owner, outsider) -> None:
    _fail(client, "owner", settings.AXES_FAILURE_LIMIT)
    # Same IP, other user: not locked.
    assert login(client, "outsider", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    # Same user, other IP: not locked.
    assert login(client, "owner", PASSWORD, REMOTE_ADDR="10.0.0.7").status_code == 302


def test_lockout_page_is_translated(client: Client, owner) -> None:
    _fail(client, "owner", settings.AXES_FAILURE_LIMIT)
    response = login(client, "owner", PASSWORD, HTTP_ACCEPT_LANGUAGE="id")
    assert response.status_code == 429
    html = response.content.decode()
    assert 'lang="id"' in html
    assert "Terlalu banyak percobaan masuk yang gagal" in html
    assert "Coba lagi dalam 15 menit." in html


def test_admin_clears_a_lockout_from_the_user_page(client: Client, admin_client, owner) -> None:
    _fail(client, "owner", settings.AXES_FAILURE_LIMIT)
    page = admin_client.get(f"/users/{owner.pk}/")
    assert page.context["failed_logins"] == settings.AXES_FAILURE_LIMIT
    assert "Clear failed sign-ins" in page.content.decode()

    response = admin_client.post(f"/users/{owner.pk}/", {"action": "unlock"})

    assert response.status_code == 302
    assert login(client, "owner", PASSWORD).status_code == 302
    entry = AuditLog.objects.get(action="user.unlock")
    assert entry.target_id == str(owner.pk)
    assert entry.metadata["attempts_cleared"] == 1
