"""The database itself enforces the seed's rules: plain SQL (reports, V0 scripts, psql) cannot
write a bad status or role, deleting a site removes its certificates, and an UPDATE moves
updated_at. Raw SQL throughout, so no Django validation or signal is involved."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from tests.conftest import require

pytestmark = pytest.mark.django_db


def _sql(sql: str, params: list | dict | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall() if cursor.description else []


def _user(role: str = "user") -> str:
    uid = str(uuid.uuid4())
    _sql(
        "INSERT INTO users (id, username, password_hash, role) VALUES (%s, %s, '!', %s)",
        [uid, f"sql-{uid[:8]}", role],
    )
    return uid


def _site(owner: str, status: str = "active") -> str:
    sid = str(uuid.uuid4())
    _sql(
        "INSERT INTO sites (id, domain, root_path, runtime, status, created_by)"
        " VALUES (%s, %s, '/srv/x', 'static', %s, %s)",
        [sid, f"{sid[:8]}.example.com", status, owner],
    )
    return sid


def _cert(site: str) -> str:
    cid = str(uuid.uuid4())
    _sql(
        "INSERT INTO ssl_certificates (id, site_id, status) VALUES (%s, %s, 'pending')",
        [cid, site],
    )
    return cid


def test_database_refuses_a_site_with_status_bogus():
    owner = _user()
    with pytest.raises(IntegrityError), transaction.atomic():
        _site(owner, status="bogus")
    assert _sql("SELECT count(*) FROM sites")[0][0] == 0


def test_database_accepts_every_seed_site_status():
    owner = _user()
    for status in ("provisioning", "active", "deleting", "failed"):
        _site(owner, status=status)
    assert _sql("SELECT count(*) FROM sites")[0][0] == 4


def test_database_refuses_a_role_outside_admin_and_user():
    with pytest.raises(IntegrityError), transaction.atomic():
        _user(role="root")
    assert {_sql("SELECT role FROM users WHERE id = %s", [_user("admin")])[0][0]} == {"admin"}


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [("ssl_certificates", "status", "revoked"), ("jobs", "status", "done")],
)
def test_database_refuses_other_unknown_statuses(table, column, value):
    owner = _user()
    sid = _site(owner)
    with pytest.raises(IntegrityError), transaction.atomic():
        if table == "jobs":
            _sql(
                "INSERT INTO jobs (id, type, status) VALUES (%s, 'x', %s)",
                [str(uuid.uuid4()), value],
            )
        else:
            _sql(
                "INSERT INTO ssl_certificates (id, site_id, status) VALUES (%s, %s, %s)",
                [str(uuid.uuid4()), sid, value],
            )


def test_deleting_a_site_in_sql_deletes_its_certificates():
    owner = _user()
    doomed, kept = _site(owner), _site(owner)
    _cert(doomed)
    _cert(doomed)
    other = _cert(kept)
    _sql("DELETE FROM sites WHERE id = %s", [doomed])
    remaining = [str(row[0]) for row in _sql("SELECT id FROM ssl_certificates")]
    assert remaining == [other]


def test_seed_defaults_fill_columns_an_insert_leaves_out():
    owner = _user()
    cert = _cert(_site(owner))
    provider, created, updated = _sql(
        "SELECT provider, created_at, updated_at FROM ssl_certificates WHERE id = %s", [cert]
    )[0]
    assert provider == "letsencrypt"
    assert created is not None and updated is not None
    _sql(
        "INSERT INTO jobs (id, type, status) VALUES (%s, 'site.create', 'queued')",
        [str(uuid.uuid4())],
    )
    payload = _sql("SELECT payload FROM jobs")[0][0]
    assert (json.loads(payload) if isinstance(payload, str) else payload) == {}
    assert _sql("SELECT is_active FROM users WHERE id = %s", [owner])[0][0] in (True, 1)


OLD = "2001-01-01T00:00:00+00:00"
INSERT_OLD = {
    # Rows written with old timestamps: INSERT does not fire the BEFORE UPDATE trigger.
    "users": "INSERT INTO users (id, username, password_hash, role, created_at, updated_at)"
    " VALUES (%(id)s, %(id)s, '!', 'user', %(old)s, %(old)s)",
    "sites": "INSERT INTO sites"
    " (id, domain, root_path, runtime, status, created_by, created_at, updated_at)"
    " VALUES (%(id)s, %(id)s, '/srv/x', 'static', 'active', %(owner)s, %(old)s, %(old)s)",
    "ssl_certificates": "INSERT INTO ssl_certificates (id, site_id, status, created_at, updated_at)"
    " VALUES (%(id)s, %(site)s, 'pending', %(old)s, %(old)s)",
}
CHANGE = {
    "users": "is_active = false",
    "sites": "root_path = '/srv/y'",
    "ssl_certificates": "status = 'issued'",
}


@pytest.mark.parametrize("table", ["users", "sites", "ssl_certificates"])
def test_an_update_in_sql_moves_updated_at(table):
    require(
        connection.vendor == "postgresql",
        "updated_at triggers exist on PostgreSQL only (SQLite relies on auto_now)",
    )
    owner = _user()
    row = str(uuid.uuid4())
    _sql(INSERT_OLD[table], {"id": row, "old": OLD, "owner": owner, "site": _site(owner)})
    _sql(f"UPDATE {table} SET {CHANGE[table]} WHERE id = %s", [row])
    # now() is the transaction's start: exactly what the trigger writes.
    moved, created = _sql(
        f"SELECT updated_at = now(), created_at FROM {table} WHERE id = %s", [row]
    )[0]
    assert moved is True
    assert created.isoformat() == OLD  # the trigger touches updated_at only
