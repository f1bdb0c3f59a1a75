"""The heartbeat hook and the dashboard's health probes never fail silently: a real database
error (a statement in an aborted PostgreSQL transaction) is logged with its exception, and
nothing claims a heartbeat or a renewal run that was not read."""

from __future__ import annotations

import logging

import pytest
from django.db import DatabaseError, connection, transaction

from panel.ops.heartbeat import on_worker_spawn
from panel.ops.models import Heartbeat
from panel.web import health

pytestmark = pytest.mark.django_db


def _aborted_transaction() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("an aborted transaction refuses every statement only on PostgreSQL")
    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_np")


def test_heartbeat_on_spawn_logs_why_it_was_not_written(caplog):
    caplog.set_level(logging.ERROR, logger="panel.ops.heartbeat")
    with transaction.atomic():
        _aborted_transaction()
        on_worker_spawn()  # must not raise: the worker starts anyway
        transaction.set_rollback(True)
    assert not Heartbeat.objects.exists()
    record = next(r for r in caplog.records if r.name == "panel.ops.heartbeat")
    assert "heartbeat on spawn was not recorded" in record.getMessage()
    assert record.exc_info and issubclass(record.exc_info[0], DatabaseError)


def test_a_broken_health_probe_is_logged_and_shown_as_not_ok(caplog):
    caplog.set_level(logging.ERROR, logger="panel.ops.probes")
    with transaction.atomic():
        _aborted_transaction()
        result = health.machinery()
        transaction.set_rollback(True)
    assert result["heartbeat"] == {"at": None, "ok": False}
    assert result["renewal"]["at"] is None and result["renewal"]["ok"] is False
    records = [r for r in caplog.records if r.name == "panel.ops.probes"]
    # Each probe that broke says so: the heartbeat, the schedules, the last renewal run.
    assert len(records) == 3
    assert all(r.exc_info and issubclass(r.exc_info[0], DatabaseError) for r in records)
