"""What the dashboard tells admins about the background machinery: the worker's last heartbeat
and the last run of the certificate renewal schedule. Each answer is a time or None (unknown)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from panel.ops.heartbeat import max_age

# The renewal schedule runs daily; older than this is a warning.
RENEWAL_STALE = timedelta(hours=26)


def _optional(candidates: list[str]) -> Callable[[], Any] | None:
    """The first "module:function" that exists: the ops and certificates work provide these."""
    for candidate in candidates:
        module_name, _, func_name = candidate.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        func = getattr(module, func_name, None)
        if callable(func):
            return func
    return None


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, dict):
        for key in ("at", "last_seen", "last_run", "finished_at", "time"):
            if isinstance(value.get(key), datetime):
                return value[key]
    return None


def worker_heartbeat() -> datetime | None:
    from panel.ops.heartbeat import last_beat

    try:
        return last_beat()[0]
    except Exception:  # noqa: BLE001 - the dashboard must render even if this probe breaks
        return None


def last_renewal_run() -> datetime | None:
    func = _optional(
        ["panel.certificates.services:last_renewal_run", "panel.ops.health:last_renewal_run"]
    )
    if func is not None:
        try:
            return _as_time(func())
        except Exception:  # noqa: BLE001
            return None
    # Fallback: django-q2 remembers the last task a schedule started.
    from django_q.models import Schedule, Task

    schedule = Schedule.objects.filter(func__icontains="renew").exclude(task=None).first()
    if schedule is None:
        return None
    task = Task.objects.filter(id=schedule.task).values_list("stopped", flat=True).first()
    return task


def status(at: datetime | None, stale_after: timedelta) -> dict[str, Any]:
    """{"at": time or None, "ok": bool} for the template: missing or old is not ok."""
    ok = at is not None and timezone.now() - at <= stale_after
    return {"at": at, "ok": ok}


def machinery() -> dict[str, Any]:
    return {
        "heartbeat": status(worker_heartbeat(), timedelta(seconds=max_age())),
        "renewal": status(last_renewal_run(), RENEWAL_STALE),
    }
