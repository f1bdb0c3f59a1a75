"""`createsuperuser` creates a role-admin user who can log in to /admin/ (issue 2, item 6)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from panel.accounts.models import Role, User

pytestmark = pytest.mark.django_db

PASSWORD = "Pisang-goreng-keju-2026"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    # PBKDF2 costs ~1 s per hash on the 2-core CI machine; not what these tests are about.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _logs_in_to_admin(username: str, password: str) -> bool:
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )
    return response.status_code == 302 and client.get("/admin/").status_code == 200


def test_noinput_with_environment_creates_a_role_admin_who_logs_in(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ketut")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", interactive=False, verbosity=0)
    user = User.objects.get(username="ketut")
    assert user.role == Role.ADMIN
    assert user.is_active
    assert user.password.startswith("md5$") and PASSWORD not in user.password
    assert _logs_in_to_admin("ketut", PASSWORD)
    assert not _logs_in_to_admin("ketut", PASSWORD + "-wrong")


def test_noinput_without_a_username_fails(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    with pytest.raises(CommandError):
        call_command("createsuperuser", interactive=False, verbosity=0)
    assert not User.objects.exists()


class _Terminal:
    """A stdin that says it is a terminal (the command skips prompting otherwise)."""

    def isatty(self) -> bool:
        return True


def test_interactive_prompts_create_a_role_admin(monkeypatch):
    # The command reads a terminal; feed it the answers an operator would type.
    answers = iter(["wayan"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": PASSWORD)
    call_command("createsuperuser", interactive=True, verbosity=0, stdin=_Terminal())
    assert User.objects.get(username="wayan").role == Role.ADMIN
    assert _logs_in_to_admin("wayan", PASSWORD)
