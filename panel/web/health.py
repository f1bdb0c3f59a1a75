"""What the dashboard tells admins about the background machinery: the worker's last heartbeat
and the last run of the certificate renewal schedule. Each answer is a time or None (unknown)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from panel.certificates.services import last_renewal_run
from panel.ops.heartbeat import last_beat, max_age

# The renewal schedule runs daily; older than this is a warning.
RENEWAL_STALE = timedelta(hours=26)


def _safe(probe: Callable[[], datetime | None]) -> datetime | None:
    try:
        return probe()
    except Exception:  # noqa: BLE001 - the dashboard must render even if a probe breaks
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
