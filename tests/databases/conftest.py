"""Fixtures for the databases tests: the real MariaDB at 127.0.0.1:3306 (or
NP_TEST_MARIADB_URL), and a clean-up that drops every database and account of the site users
the test created, whatever the test did."""

from __future__ import annotations

import os
import socket

import pymysql
import pytest
from django.db.models.signals import post_save

from panel.databases import server
from panel.sites.models import Site
from tests.conftest import require

MARIADB_URL = os.environ.get("NP_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/")


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _nginx_settings(request, settings):
    # As in tests/tenancy: tests with the suite's nginx get exactly its settings back.
    if "nginx" in request.fixturenames:
        for name, value in request.getfixturevalue("nginx").settings.items():
            setattr(settings, name, value)


@pytest.fixture(scope="session")
def mariadb_server() -> server.Server:
    target = server.parse_url(MARIADB_URL)
    try:
        server.ping(target)
    except server.MariaDBError as exc:
        require(False, f"no MariaDB answers at {target.where}: {exc}")
    return target


@pytest.fixture
def mariadb(mariadb_server, settings):
    """NUSANTARA_MARIADB_URL pointed at the real MariaDB; afterwards every database and account
    of the sites created meanwhile is dropped."""
    settings.NUSANTARA_MARIADB_URL = MARIADB_URL
    site_users: set[str] = set()

    def remember(sender, instance, **kwargs):
        if instance.system_user:
            site_users.add(instance.system_user)

    post_save.connect(remember, sender=Site, weak=False, dispatch_uid="np-test-db-users")
    try:
        yield mariadb_server
    finally:
        post_save.disconnect(sender=Site, dispatch_uid="np-test-db-users")
        for user in site_users:
            server.drop_owned_by(user, mariadb_server)


def admin_sql(target: server.Server, sql: str, args: tuple = ()) -> list[tuple]:
    with server.connect(target) as conn, conn.cursor() as cur:
        cur.execute(sql, args or None)
        return list(cur.fetchall())


def customer(target: server.Server, user: str, password: str, database: str | None = None):
    return pymysql.connect(
        host=target.host,
        port=target.port,
        user=user,
        password=password,
        database=database,
        connect_timeout=5,
        autocommit=True,
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def active_site(owner, domain: str, runtime: str = "static") -> Site:
    """A site row as provisioning leaves it (active, with its system user), without the worker."""
    from panel.tenancy.rootcmd import site_user_name
    from tests.factories import SiteFactory

    site = SiteFactory.build(created_by=owner, domain=domain, runtime=runtime)
    site.system_user = site_user_name(site.pk)
    site.save()
    return site
