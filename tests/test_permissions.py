"""Permission matrix: every URL of DESIGN.md's Web table for anonymous, user, another user, admin.

Cells: an HTTP status, or LOGIN (302 to the login page with ?next=) / ADMIN_LOGIN (302 to the
Django admin's own login). "user" owns the objects; "other" is another regular user.
"""

from __future__ import annotations

import uuid
from importlib import import_module

import pytest
from django.test import Client
from django.urls import URLResolver, resolve

from panel.accounts.models import Role
from panel.jobs.models import Job, JobStatus
from tests.factories import SiteFactory, UserFactory

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
    ("get", "/", None, dict(anonymous=LOGIN, user=200, other=200, admin=200)),
    ("post", "/", {}, dict(anonymous=LOGIN, user=405, other=405, admin=405)),
    ("get", "/sites/", None, dict(anonymous=LOGIN, user=200, other=200, admin=200)),
    ("get", "/sites/new/", None, dict(anonymous=LOGIN, user=200, other=200, admin=200)),
    ("get", "/sites/{site_id}/", None, dict(anonymous=LOGIN, user=200, other=404, admin=200)),
    (
        "get",
        "/sites/{site_id}/delete/",
        None,
        dict(anonymous=LOGIN, user=405, other=405, admin=405),
    ),
    (
        "get",
        "/sites/{site_id}/settings/",
        None,
        dict(anonymous=LOGIN, user=405, other=405, admin=405),
    ),
    (
        "get",
        "/sites/{site_id}/suspension/",
        None,
        dict(anonymous=LOGIN, user=404, other=404, admin=405),
    ),
    # Admins only; without a reason the form comes back with an error (400): nothing changes.
    (
        "post",
        "/sites/{site_id}/suspension/",
        {"action": "suspend"},
        dict(anonymous=LOGIN, user=404, other=404, admin=400),
    ),
    ("get", "/sites/{site_id}/hsts/", None, dict(anonymous=LOGIN, user=405, other=405, admin=405)),
    # Owner or admin; without an action the form comes back with an error (400): nothing changes.
    ("post", "/sites/{site_id}/hsts/", {}, dict(anonymous=LOGIN, user=400, other=404, admin=400)),
    # Without a runtime the form comes back with an error: nothing changes.
    (
        "post",
        "/sites/{site_id}/settings/",
        {},
        dict(anonymous=LOGIN, user=200, other=404, admin=200),
    ),
    # Domain names: POST only; an empty form comes back with an error (400), an unknown alias
    # back to the site page: nothing changes. Another user's site is a 404.
    (
        "get",
        "/sites/{site_id}/aliases/",
        None,
        dict(anonymous=LOGIN, user=405, other=405, admin=405),
    ),
    (
        "post",
        "/sites/{site_id}/aliases/",
        {},
        dict(anonymous=LOGIN, user=400, other=404, admin=400),
    ),
    (
        "get",
        "/sites/{site_id}/aliases/remove/",
        None,
        dict(anonymous=LOGIN, user=405, other=405, admin=405),
    ),
    (
        "post",
        "/sites/{site_id}/aliases/remove/",
        {"domain": "nothing.example.com"},
        dict(anonymous=LOGIN, user=302, other=404, admin=302),
    ),
    (
        "get",
        "/sites/{site_id}/redirect/",
        None,
        dict(anonymous=LOGIN, user=405, other=405, admin=405),
    ),
    (
        "post",
        "/sites/{site_id}/redirect/",
        {},
        dict(anonymous=LOGIN, user=400, other=404, admin=400),
    ),
    # Without the typed confirmation the form comes back with an error: nothing is deleted.
    ("post", "/sites/{site_id}/delete/", {}, dict(anonymous=LOGIN, user=200, other=404, admin=200)),
    (
        "get",
        "/sites/{site_id}/certificate/",
        None,
        dict(anonymous=LOGIN, user=405, other=405, admin=405),
    ),
    (
        "post",
        "/sites/{site_id}/certificate/",
        {},
        dict(anonymous=LOGIN, user=302, other=404, admin=302),
    ),
    # SFTP: GET goes to the site page's SFTP card; an empty POST changes nothing (back to it).
    ("get", "/sites/{site_id}/sftp/", None, dict(anonymous=LOGIN, user=302, other=404, admin=302)),
    ("post", "/sites/{site_id}/sftp/", {}, dict(anonymous=LOGIN, user=302, other=404, admin=302)),
    ("put", "/sites/{site_id}/sftp/", {}, dict(anonymous=LOGIN, user=405, other=405, admin=405)),
    # Databases: GET goes to the site page's card; an empty POST changes nothing (back to it);
    # a database that is not the site's is a 404.
    (
        "get",
        "/sites/{site_id}/databases/",
        None,
        dict(anonymous=LOGIN, user=302, other=404, admin=302),
    ),
    (
        "post",
        "/sites/{site_id}/databases/",
        {},
        dict(anonymous=LOGIN, user=302, other=404, admin=302),
    ),
    (
        "put",
        "/sites/{site_id}/databases/",
        {},
        dict(anonymous=LOGIN, user=405, other=405, admin=405),
    ),
    (
        "post",
        "/sites/{site_id}/databases/",
        {"delete": "00000000-0000-0000-0000-000000000000"},
        dict(anonymous=LOGIN, user=404, other=404, admin=404),
    ),
    (
        "post",
        "/sites/{site_id}/databases/",
        {"rotate": "not-a-uuid"},
        dict(anonymous=LOGIN, user=404, other=404, admin=404),
    ),
    # A key that is not the site's (or not a key id at all) is a 404.
    (
        "post",
        "/sites/{site_id}/sftp/",
        {"remove_key": "00000000-0000-0000-0000-000000000000"},
        dict(anonymous=LOGIN, user=404, other=404, admin=404),
    ),
    # Uploads into the site's public/: POST only; without files the form comes back (400).
    ("get", "/sites/{site_id}/files/", None, dict(anonymous=LOGIN, user=405, other=405, admin=405)),
    ("post", "/sites/{site_id}/files/", {}, dict(anonymous=LOGIN, user=400, other=404, admin=400)),
    ("get", "/sites/{site_id}/logs/", None, dict(anonymous=LOGIN, user=200, other=404, admin=200)),
    ("post", "/sites/{site_id}/logs/", {}, dict(anonymous=LOGIN, user=405, other=405, admin=405)),
    ("get", "/certificates/", None, dict(anonymous=LOGIN, user=200, other=200, admin=200)),
    ("get", "/jobs/", None, dict(anonymous=LOGIN, user=200, other=200, admin=200)),
    ("get", "/jobs/{job_id}/", None, dict(anonymous=LOGIN, user=200, other=404, admin=200)),
    ("get", "/jobs/{job_id}/retry/", None, dict(anonymous=LOGIN, user=405, other=405, admin=405)),
    ("post", "/jobs/{job_id}/retry/", {}, dict(anonymous=LOGIN, user=404, other=404, admin=302)),
    (
        "post",
        "/sites/{site_id}/certificate/upload/",
        {},
        dict(anonymous=LOGIN, user=200, other=404, admin=200),
    ),
    # Nothing pending for users without a device: these steps send them on.
    ("get", "/accounts/otp/", None, dict(anonymous=LOGIN, user=302, other=302, admin=302)),
    ("get", "/accounts/2fa/confirm/", None, dict(anonymous=LOGIN, user=302, other=302, admin=302)),
    (
        "get",
        "/accounts/2fa/recovery/",
        None,
        dict(anonymous=LOGIN, user=302, other=302, admin=302),
    ),
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
    ("get", "/audit/export.csv", None, dict(anonymous=LOGIN, user=404, other=404, admin=200)),
    ("post", "/audit/export.csv", {}, dict(anonymous=LOGIN, user=404, other=404, admin=405)),
    ("get", "/nodes/", None, dict(anonymous=LOGIN, user=404, other=404, admin=200)),
    ("post", "/nodes/", {}, dict(anonymous=LOGIN, user=404, other=404, admin=405)),
    ("get", "/nodes/new/", None, dict(anonymous=LOGIN, user=404, other=404, admin=200)),
    # Without a name and an address the form comes back with errors: nothing is registered.
    ("post", "/nodes/new/", {}, dict(anonymous=LOGIN, user=404, other=404, admin=200)),
    (
        "get",
        "/nodes/{node_id}/status/",
        None,
        dict(anonymous=LOGIN, user=404, other=404, admin=405),
    ),
    (
        "post",
        "/nodes/{node_id}/status/",
        {"status": "draining"},
        dict(anonymous=LOGIN, user=404, other=404, admin=302),
    ),
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
    site = SiteFactory(created_by=actors["user"])
    job = Job.objects.create(
        type="site.provision",
        status=JobStatus.FAILED,
        payload={},
        site_id=site.pk,
        created_by=actors["user"],
        error_message="nginx -t failed",
    )
    return {
        "user_id": str(actors["user"].pk),
        "site_id": str(site.pk),
        "job_id": str(job.pk),
        "node_id": str(site.node_id),
    }


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


def test_every_named_page_is_in_the_matrix() -> None:
    """A new URL without a row here fails this test (admin and i18n have their own rules)."""
    dummy = {
        "user_id": uuid.uuid4(),
        "site_id": uuid.uuid4(),
        "job_id": uuid.uuid4(),
        "node_id": uuid.uuid4(),
    }
    covered = {
        resolve(path.format(**dummy)).url_name for _, path, _, _ in MATRIX if path != "/admin/"
    }
    routes: set[str] = set()
    for entry in import_module("nusantara.urls").urlpatterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern) in ("admin/", "i18n/"):
                continue
            routes |= {p.name for p in entry.url_patterns if p.name}
        elif entry.name:
            routes.add(entry.name)
    assert routes - covered == set()
