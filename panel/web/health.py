"""What the dashboard tells admins about the machinery, measured rather than assumed: whether
nginx, php-fpm, the worker and the scheduler are up (each ok / down with a reason / unknown), and
when certificate renewal last ran (or first runs).

The two network probes (a TCP connect to nginx's HTTP listener, a connect to a php-fpm socket)
run at most every PROBE_TTL seconds per web process (Django's cache); the worker and scheduler
states come from two small indexed queries on every view. No subprocess, ever.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _

from panel.audit.actions import AuditAction
from panel.audit.models import AuditLog
from panel.ops.heartbeat import last_beat, max_age
from panel.ops.probes import DOWN, OK, UNKNOWN, _safe, _state, probe_nginx, probe_phpfpm

logger = logging.getLogger(__name__)

# The renewal schedule runs daily; older than this is a warning.
RENEWAL_STALE = timedelta(hours=26)
# A schedule whose next run is this far in the past means nobody is running the scheduler.
SCHEDULE_GRACE = timedelta(minutes=5)
PROBE_TTL = 30
PROBE_CACHE_KEY = "panel.web.health.probes"


def last_renewal_run() -> datetime | None:
    """The newest `ssl.renewal_run` audit entry (written by the certificates' daily schedule),
    looked for only within the warning window: a bounded scan of the created_at index instead
    of the whole audit table when the schedule has stopped."""
    return (
        AuditLog.objects.filter(
            action=AuditAction.SSL_RENEWAL_RUN, created_at__gte=timezone.now() - RENEWAL_STALE
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def status(at: datetime | None, stale_after: timedelta) -> dict[str, Any]:
    """{"at": time or None, "ok": bool} for the template: missing or old is not ok."""
    ok = at is not None and timezone.now() - at <= stale_after
    return {"at": at, "ok": ok}


# --- the network probes (cached) --------------------------------------------------------------


def _probes() -> dict[str, dict[str, str]]:
    probes = cache.get(PROBE_CACHE_KEY)
    if probes is None:
        probes = {
            "nginx": _safe(probe_nginx, _state(UNKNOWN)),
            "php-fpm": _safe(probe_phpfpm, _state(UNKNOWN)),
            "measured_at": timezone.now(),
        }
        cache.set(PROBE_CACHE_KEY, probes, PROBE_TTL)
    return probes


# --- worker, scheduler, renewal (from the database) -------------------------------------------


def worker_state(beat_at: datetime | None) -> dict[str, str]:
    if beat_at is None:
        return _state(UNKNOWN, _("no worker has reported yet (manage.py qcluster)."))
    age = int((timezone.now() - beat_at).total_seconds())
    if age > max_age():
        return _state(
            DOWN,
            _("last heartbeat %(age)s s ago (more than %(max)s s): the worker is not running.")
            % {"age": age, "max": max_age()},
        )
    return _state(OK, _("heartbeat %(age)s s ago") % {"age": max(age, 0)})


def _schedules() -> list[dict[str, Any]]:
    from django_q.models import Schedule

    return list(Schedule.objects.order_by("next_run").values("name", "func", "next_run", "task"))


def scheduler_state(schedules: list[dict[str, Any]]) -> dict[str, str]:
    if not schedules:
        return _state(DOWN, _("there are no schedules: run manage.py ensure_schedules."))
    due = timezone.now() - SCHEDULE_GRACE
    late = [s for s in schedules if s["next_run"] and s["next_run"] < due]
    if late:
        oldest = late[0]
        minutes = int((timezone.now() - oldest["next_run"]).total_seconds() // 60)
        return _state(
            DOWN,
            _(
                "schedule %(name)s is %(minutes)s minutes overdue: no worker is running the "
                "scheduler."
            )
            % {"name": oldest["name"] or oldest["func"], "minutes": minutes},
        )
    return _state(OK, _("%(count)s schedules on time") % {"count": len(schedules)})


def renewal_state(schedules: list[dict[str, Any]]) -> dict[str, Any]:
    """{"at", "ok", "first_run"}: a renewal schedule that has never fired yet is not a warning
    (a fresh install); its first run time is shown instead, unless that time has long passed."""
    from panel.certificates.services import RENEWAL_SCHEDULE

    result = status(_safe(last_renewal_run), RENEWAL_STALE)
    result["first_run"] = None
    schedule = next((s for s in schedules if s["name"] == RENEWAL_SCHEDULE), None)
    if result["at"] is None and schedule and not schedule["task"] and schedule["next_run"]:
        first_run = schedule["next_run"]
        if first_run >= timezone.now() - SCHEDULE_GRACE:  # else the scheduler is not running
            result.update(ok=True, first_run=first_run)
    return result


def machinery() -> dict[str, Any]:
    beat_at = _safe(lambda: last_beat()[0])
    schedules = _safe(_schedules, [])
    probes = _probes()
    return {
        "heartbeat": status(beat_at, timedelta(seconds=max_age())),
        "renewal": renewal_state(schedules),
        "services": [
            ("nginx", probes["nginx"]),
            ("php-fpm", probes["php-fpm"]),
            (_("worker"), worker_state(beat_at)),
            (_("scheduler"), scheduler_state(schedules)),
        ],
        "measured_at": probes["measured_at"],
    }
