"""What the dashboard tells admins about the background machinery: the worker's last heartbeat
and the last run of the certificate renewal schedule. Each answer is a time or None (unknown)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from panel.audit.models import AuditLog
from panel.ops.heartbeat import last_beat, max_age

logger = logging.getLogger(__name__)

# The renewal schedule runs daily; older than this is a warning.
RENEWAL_STALE = timedelta(hours=26)


def last_renewal_run() -> datetime | None:
    """The newest `ssl.renewal_run` audit entry (written by the certificates' daily schedule),
    looked for only within the warning window: a bounded scan of the created_at index instead
    of the whole audit table when the schedule has stopped."""
    return (
        AuditLog.objects.filter(
            action="ssl.renewal_run", created_at__gte=timezone.now() - RENEWAL_STALE
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def _safe(probe: Callable[[], datetime | None]) -> datetime | None:
    try:
        return probe()
    except Exception:  # noqa: BLE001 - the dashboard must render even if a probe breaks
        # None shows as "not seen" (never as fine); the log says what broke.
        logger.exception("dashboard health probe %s failed", getattr(probe, "__name__", probe))
        return None


def status(at: datetime | None, stale_after: timedelta) -> dict[str, Any]:
    """{"at": time or None, "ok": bool} for the template: missing or old is not ok."""
    ok = at is not None and timezone.now() - at <= stale_after
    return {"at": at, "ok": ok}


def machinery() -> dict[str, Any]:
    return {
        "heartbeat": status(_safe(lambda: last_beat()[0]), timedelta(seconds=max_age())),
        "renewal": status(_safe(last_renewal_run), RENEWAL_STALE),
    }
