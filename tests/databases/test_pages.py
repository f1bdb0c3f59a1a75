"""The databases card and its POST URL: what an owner sees and sends, what an outsider gets, the
refusals shown next to the field, the password shown once and never kept (no worker needed here:
jobs stay queued)."""

from __future__ import annotations

import json

import pytest

from panel.audit.models import AuditLog
from panel.databases.models import Database, DatabaseStatus
from panel.jobs import secrets
from panel.jobs.models import Job

from .conftest import active_site, closed_port


@pytest.fixture
def site(owner, mariadb):
    return active_site(owner, "shop.databases.example", runtime="php")


def _url(site) -> str:
    return f"/sites/{site.pk}/databases/"


def _decrypt(job: Job) -> str:
    return secrets.decrypt(job.payload["secret"], purpose="database password")


def test_a_generated_password_is_shown_once_and_travels_encrypted(owner_client, site):
    response = owner_client.post(_url(site), {"name": "shop", "password": ""})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    db = Database.objects.get(site=site)
    assert db.name == db.db_user == f"{site.system_user}_shop"
    assert db.status == DatabaseStatus.CREATING
    job = Job.objects.get(site_id=site.pk, type="db.create")
    password = _decrypt(job)
    page = response.content.decode()
    assert page.count(password) >= 1 and "shown only this once" in page
    assert f"define( 'DB_PASSWORD', '{password}' );" in page  # the PHP snippet has it
    # Nowhere else: not in clear in the job, not in the audit trail, not on the next visit.
    assert password not in json.dumps(job.payload) + json.dumps(job.log)
    for entry in AuditLog.objects.all():
        assert password not in json.dumps(entry.metadata)
    assert AuditLog.objects.filter(action="db.create", target_id=str(site.pk)).exists()
    assert password not in owner_client.get(f"/sites/{site.pk}/").content.decode()


def test_a_given_password_is_never_echoed(owner_client, site):
    secret = "correct horse battery staple"
    response = owner_client.post(_url(site), {"name": "blog", "password": secret})
    assert response.status_code == 302 and response["Location"].endswith("#databases")
    job = Job.objects.get(site_id=site.pk, type="db.create")
    assert _decrypt(job) == secret
    page = owner_client.get(response["Location"]).content.decode()
    assert secret not in page and f"{site.system_user}_blog" in page


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("shop'; DROP DATABASE mysql; --", "Use lower-case letters, digits and _ only"),
        ("sh`op", "Use lower-case letters"),
        ("sh%", "Use lower-case letters"),
        ("Shop", "Use lower-case letters"),
        ("a" * 52, "at most 51 characters"),
    ],
)
def test_hostile_names_are_refused_next_to_the_field(owner_client, site, name, message):
    response = owner_client.post(_url(site), {"name": name})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Database.objects.exists() and not Job.objects.exists()


def test_a_short_password_is_refused(owner_client, site):
    response = owner_client.post(_url(site), {"name": "shop", "password": "short"})
    assert response.status_code == 400
    assert "at least 12 characters" in response.content.decode()
    assert not Database.objects.exists()


def test_the_same_name_twice_and_the_per_user_limit(owner_client, owner, site, settings):
    assert owner_client.post(_url(site), {"name": "shop"}).status_code == 200
    response = owner_client.post(_url(site), {"name": "shop"})
    assert response.status_code == 400
    assert "already has a database with this name" in response.content.decode()
    settings.NUSANTARA_MAX_DATABASES_PER_USER = 2
    other = active_site(owner, "other.databases.example")  # the limit counts every site
    assert owner_client.post(_url(other), {"name": "two"}).status_code == 200
    response = owner_client.post(_url(other), {"name": "three"})
    assert response.status_code == 400
    assert "limit of 2 databases" in response.content.decode()
    assert Database.objects.count() == 2


def test_database_creation_counts_in_the_account_job_limit(owner_client, site, settings):
    settings.NUSANTARA_RATE_ACCOUNT_JOBS = (1, 600)
    assert owner_client.post(_url(site), {"name": "one"}).status_code == 200
    response = owner_client.post(_url(site), {"name": "two"})
    assert response.status_code == 400
    assert "Too many operations from your account" in response.content.decode()
    assert Database.objects.count() == 1


def test_rotate_and_delete_queue_their_jobs(owner_client, site):
    owner_client.post(_url(site), {"name": "shop"})
    db = Database.objects.get()
    response = owner_client.post(_url(site), {"rotate": str(db.pk)}, follow=True)
    assert "Wait until the database is ready" in response.content.decode()
    Database.objects.filter(pk=db.pk).update(status=DatabaseStatus.ACTIVE)
    Job.objects.update(status="success")
    response = owner_client.post(_url(site), {"rotate": str(db.pk)})
    assert response.status_code == 200
    job = Job.objects.get(type="db.password")
    assert _decrypt(job) in response.content.decode()
    # A second change waits for the first.
    response = owner_client.post(_url(site), {"delete": str(db.pk)}, follow=True)
    assert "still being applied" in response.content.decode()
    Job.objects.update(status="success")
    owner_client.post(_url(site), {"delete": str(db.pk)})
    db.refresh_from_db()
    assert db.status == DatabaseStatus.DELETING
    assert Job.objects.get(type="db.delete").payload["database"] == db.name


def test_another_sites_database_is_a_404(owner_client, outsider_client, outsider, site):
    owner_client.post(_url(site), {"name": "shop"})
    db = Database.objects.get()
    theirs = active_site(outsider, "theirs.databases.example")
    for action in ("delete", "rotate"):
        assert outsider_client.post(_url(theirs), {action: str(db.pk)}).status_code == 404
        assert outsider_client.post(_url(site), {action: str(db.pk)}).status_code == 404
    assert outsider_client.post(_url(site), {"name": "mine"}).status_code == 404
    assert Database.objects.count() == 1


def test_csrf_is_required(site, owner):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(_url(site), {"name": "shop"}).status_code == 403
    assert not Database.objects.exists()


def test_the_card_shows_connection_details_and_the_php_snippet(owner_client, site, settings):
    settings.NUSANTARA_MARIADB_HOST_FOR_CUSTOMERS = "db.node1.example"
    owner_client.post(_url(site), {"name": "shop"})
    page = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert 'data-testid="databases-card"' in page and "databases-off" not in page
    assert "<code>db.node1.example</code>" in page and "<code>3306</code>" in page
    assert f"DB_DATABASE={site.system_user}_shop" in page
    assert "DB_HOST=db.node1.example" in page


def test_a_static_site_gets_no_php_snippet(owner_client, owner, mariadb):
    static = active_site(owner, "static.databases.example", runtime="static")
    owner_client.post(_url(static), {"name": "data"})
    page = owner_client.get(f"/sites/{static.pk}/").content.decode()
    assert f"{static.system_user}_data" in page and "DB_DATABASE=" not in page


def test_without_mariadb_the_card_says_databases_are_off_and_why(owner_client, site, settings):
    settings.NUSANTARA_MARIADB_URL = ""
    page = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert "Databases are off: no MariaDB is configured" in page
    assert "Create database" not in page
    response = owner_client.post(_url(site), {"name": "shop"}, follow=True)
    assert "Databases are off on this server" in response.content.decode()
    port = closed_port()
    settings.NUSANTARA_MARIADB_URL = f"mysql://root@127.0.0.1:{port}/"
    page = owner_client.get(f"/sites/{site.pk}/").content.decode()
    assert "MariaDB does not answer" in page and f"127.0.0.1:{port} is not reachable" in page
    assert not Database.objects.exists()


def test_an_inactive_site_takes_no_database(owner_client, site):
    site.status = "provisioning"
    site.save()
    response = owner_client.post(_url(site), {"name": "shop"})
    assert response.status_code == 400
    assert "once the site is active" in response.content.decode()
