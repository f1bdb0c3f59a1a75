"""db.create, db.password and db.delete through the real worker on the real MariaDB: what the
customer's user can and cannot do, two customers' databases of the same name, a rotated password,
and a site's deletion that drops its databases (also when MariaDB was down at first)."""

from __future__ import annotations

import json

import pymysql
import pytest

from panel.audit.models import AuditLog
from panel.databases.models import Database, DatabaseStatus
from panel.databases.services import database_create, database_delete, database_set_password
from panel.jobs.models import Job
from panel.jobs.services import job_retry
from panel.sites.models import Site, SiteStatus
from panel.sites.services import site_create, site_delete
from tests.factories import UserFactory

from .conftest import MARIADB_URL, active_site, admin_sql, closed_port, customer

DENIED = (1044, 1045, 1049, 1227)  # access denied (database, user), unknown db, no privilege


def _create(worker, user, site, name, password=""):
    database, password = database_create(user=user, site=site, name=name, password=password)
    job = worker.wait_for_job(
        Job.objects.get(type="db.create", payload__database_id=str(database.pk))
    )
    assert job.status == "success", job.error_message
    database.refresh_from_db()
    assert database.status == DatabaseStatus.ACTIVE
    return database, password, job


def _denied(call) -> int:
    with pytest.raises(pymysql.MySQLError) as info:
        call()
    assert info.value.args[0] in DENIED, info.value
    return info.value.args[0]


def test_the_users_database_is_its_own_and_nothing_else(mariadb, worker, owner):
    site = active_site(owner, "shop.jobs.example")
    database, password, job = _create(worker, owner, site, "my_shop")
    name = database.name
    assert name == f"{site.system_user}_my_shop"
    # Nothing of the password is left in the job, its log or the audit trail.
    assert "secret" not in job.payload
    assert password not in json.dumps(job.log)
    assert all(password not in json.dumps(a.metadata) for a in AuditLog.objects.all())
    assert AuditLog.objects.filter(action="db.created", target_id=str(site.pk)).exists()

    # Look-alikes an unescaped grant pattern (`_` = any character) would have opened.
    look_alikes = [f"{site.system_user}Xmy_shop", f"{site.system_user}_myXshop"]
    try:
        for other in look_alikes:
            admin_sql(mariadb, f"CREATE DATABASE `{other}`")
        with customer(mariadb, name, password, name) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE products (id INT PRIMARY KEY, title TEXT)")
            cur.execute("INSERT INTO products VALUES (%s, %s)", (1, "kopi"))
            cur.execute("SELECT title FROM products")
            assert cur.fetchall() == (("kopi",),)
            cur.execute("SHOW DATABASES")
            assert {row[0] for row in cur.fetchall()} == {"information_schema", name}
            _denied(lambda: cur.execute(f"CREATE DATABASE `{site.system_user}_more`"))
            for other in [*look_alikes, "mysql", "test"]:
                _denied(lambda other=other: cur.execute(f"USE `{other}`"))
            _denied(lambda: cur.execute("CREATE USER 'x'@'%' IDENTIFIED BY 'y'"))
    finally:
        for other in look_alikes:
            admin_sql(mariadb, f"DROP DATABASE IF EXISTS `{other}`")
    # Re-running the job converges (idempotent): the same user, still working.
    database_set_password(user=owner, database=database, password=password)
    job = worker.wait_for_job(Job.objects.get(type="db.password"))
    assert job.status == "success", job.error_message
    customer(mariadb, name, password, name).close()


def test_two_customers_shop_databases_are_distinct(mariadb, worker):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    a_site = active_site(alice, "alice.jobs.example")
    b_site = active_site(bob, "bob.jobs.example")
    a, a_password, _job = _create(worker, alice, a_site, "shop")
    b, b_password, _job = _create(worker, bob, b_site, "shop")
    assert a.name != b.name and a.name.endswith("_shop") and b.name.endswith("_shop")
    with customer(mariadb, a.db_user, a_password, a.name) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT)")
        _denied(lambda: cur.execute(f"USE `{b.name}`"))
    _denied(lambda: customer(mariadb, a.db_user, b_password, a.name))
    with customer(mariadb, b.db_user, b_password, b.name) as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        assert cur.fetchall() == ()  # alice's table is not in bob's database


def test_a_rotated_password_replaces_the_old_one_and_delete_drops_both(mariadb, worker, owner):
    site = active_site(owner, "rotate.jobs.example")
    database, old, _job = _create(worker, owner, site, "app", password="the old password 1")
    job, new = database_set_password(user=owner, database=database)
    assert new != old
    job = worker.wait_for_job(job)
    assert job.status == "success", job.error_message and "secret" not in job.payload
    _denied(lambda: customer(mariadb, database.db_user, old, database.name))
    customer(mariadb, database.db_user, new, database.name).close()

    job = worker.wait_for_job(database_delete(user=owner, database=database))
    assert job.status == "success", job.error_message
    assert not Database.objects.filter(pk=database.pk).exists()
    assert admin_sql(mariadb, "SHOW DATABASES LIKE %s", (database.name,)) == []
    users = admin_sql(mariadb, "SELECT User FROM mysql.user WHERE User = %s", (database.db_user,))
    assert users == []


def _job(site: Site) -> Job:
    return Job.objects.filter(site_id=site.pk).order_by("-created_at").first()


def test_site_deletion_drops_its_databases_and_survives_mariadb_being_down(
    worker_manager, transactional_db, nginx, phpfpm, mariadb, settings, owner, admin_user
):
    from tests.services.tenancy import reset_tenancy
    from tests.services.worker import worker_env

    worker = worker_manager.ensure(worker_env())
    try:
        site = site_create(user=owner, domain="gone.jobs.example", runtime="static")
        keep = site_create(user=owner, domain="keep.jobs.example", runtime="static")
        for s in (site, keep):
            assert worker.wait_for_job(_job(s)).status == "success"
            s.refresh_from_db()
        database, _password, _job_ = _create(worker, owner, site, "shop")
        kept, _password, _job_ = _create(worker, owner, keep, "shop")

        # MariaDB "down" for the worker: its URL points at a port nothing listens on.
        port = closed_port()
        settings.NUSANTARA_MARIADB_URL = f"mysql://root@127.0.0.1:{port}/"
        worker = worker_manager.ensure(worker_env())
        job = worker.wait_for_job(site_delete(user=owner, site=site), timeout=60)
        assert job.status == "failed"
        assert "databases could not be dropped, so nothing was deleted" in job.error_message
        assert f"127.0.0.1:{port} is not reachable" in job.error_message
        site.refresh_from_db()
        assert site.status == SiteStatus.FAILED
        assert Database.objects.filter(pk=database.pk).exists()
        assert admin_sql(mariadb, "SHOW DATABASES LIKE %s", (database.name,)) != []
        assert nginx.wait_for(site.domain).status == 200  # still served: nothing half done

        # MariaDB back: the admin's retry finishes the deletion.
        settings.NUSANTARA_MARIADB_URL = MARIADB_URL
        worker = worker_manager.ensure(worker_env())
        job = worker.wait_for_job(job_retry(job=job, user=admin_user), timeout=60)
        assert job.status == "success", job.error_message
        assert any("MariaDB: dropped" in line["msg"] for line in job.log)
        assert not Site.objects.filter(pk=site.pk).exists()
        assert not Database.objects.filter(pk=database.pk).exists()  # ON DELETE CASCADE
        assert admin_sql(mariadb, "SHOW DATABASES LIKE %s", (database.name,)) == []
        assert (
            admin_sql(mariadb, "SELECT 1 FROM mysql.user WHERE User = %s", (database.db_user,))
            == []
        )
        # The other site's database is untouched.
        assert admin_sql(mariadb, "SHOW DATABASES LIKE %s", (kept.name,)) != []
    finally:
        reset_tenancy()
