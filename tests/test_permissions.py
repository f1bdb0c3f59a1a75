"""Permission matrix: every URL of DESIGN.md's Web table for anonymous, user, another user, admin.

Cells: an HTTP status, or LOGIN (302 to the login page with ?next=) / ADMIN_LOGIN (302 to the
Django admin's own login). "user" owns the objects; "other" is another regular user.
"""

from __future__ import annotations

import pytest
from django.test import Client

from panel.accounts.models import Role
from tests.factories import UserFactory

LOGIN = "login"
ADMIN_LOGIN = "admin-login"
OPEN = (200, 503)
ROLES = ("anonymous", "user", "other", "admin")

# (method, path template, data, {role: expected})
MATRIX = [
    ("get", "/accounts/login/", None, dict(anonymous=200, user=302, other=302, admin=302)),
    ("get", "/accounts/logout/", None, dict(anonymous=405, user=405, other=405, admin=405)),
    ("post", "/accounts/logout/", {}, dict(anonymous=302, user=302, other=302, admin=302)),
    ("get", "/accounts/password/", None, dict(anonymous=LOGIN, user=200, other=200, admin=200)),
    ("get", "/accounts/2fa/", None, dict(anonymous=LOGIN, user=200, other=200, admin=200)),
    ("get", "/accounts/2fa/setup/", None, dict(anonymous=LOGIN, user=405, other=405, admin=405)),
    ("get", "/accounts/2fa/disable/", None, dict(anonymous=LOGIN, user=405, other=405, admin=405)),
    ("get", "/users/", None, dict(anonymous=LOGIN, user=404, other=404, admin=200)),
    ("get", "/users/new/", None, dict(anonymous=LOGIN, user=404, other=404, admin=200)),
    ("get", "/users/{user_id}/", None, dict(anonymous=LOGIN, user=404, other=404, admin=200)),
    (
        "post",
        "/users/{user_id}/",
        {"action": "activate"},
        dict(anonymous=LOGIN, user=404, other=404, admin=302),
    ),
    ("get", "/audit/", None, dict(anonymous=LOGIN, user=404, other=404, admin=200)),
    ("post", "/audit/", {}, dict(anonymous=LOGIN, user=404, other=404, admin=405)),
    (
        "get",
        "/admin/",
        None,
        dict(anonymous=ADMIN_LOGIN, user=ADMIN_LOGIN, other=ADMIN_LOGIN, admin=200),
    ),
    # Open to anyone: 200 when healthy, 503 here because no worker heartbeat is running.
    ("get", "/healthz", None, dict(anonymous=OPEN, user=OPEN, other=OPEN, admin=OPEN)),
]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Production-cost PBKDF2 would dominate this matrix's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def actors(db):
    user = UserFactory(username="owner")
    return {
        "anonymous": None,
        "user": user,
        "other": UserFactory(username="outsider"),
        "admin": UserFactory(username="admin", role=Role.ADMIN),
    }


@pytest.fixture
def objects(actors) -> dict[str, str]:
    return {"user_id": str(actors["user"].pk)}


CASES = [
    pytest.param(method, path, data, role, expected[role], id=f"{method}-{path}-{role}")
    for method, path, data, expected in MATRIX
    for role in ROLES
]


@pytest.mark.parametrize(("method", "path", "data", "role", "expected"), CASES)
def test_permission_matrix(actors, objects, method, path, data, role, expected) -> None:
    client = Client()
    if actors[role] is not None:
        client.force_login(actors[role])
    url = path.format(**objects)
    response = getattr(client, method)(url, data) if data is not None else client.get(url)
    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    elif expected == ADMIN_LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    elif isinstance(expected, tuple):
        assert response.status_code in expected, f"{method.upper()} {url} as {role}"
    else:
        assert response.status_code == expected, f"{method.upper()} {url} as {role}"
