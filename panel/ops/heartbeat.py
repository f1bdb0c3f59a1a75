"""Writing and reading the worker heartbeat.

The worker writes it twice over: when a worker process spawns (django-q2's `post_spawn` signal,
so a freshly started worker is visible at once) and from the `ops.heartbeat` schedule every
minute (which proves the scheduler, the broker and a worker process all work end to end).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from panel.nodes.models import Node

from .models import Heartbeat
from .probes import UNKNOWN, _safe, _state, probe_nginx, probe_phpfpm

logger = logging.getLogger(__name__)

WORKER = "worker"
TASK = "panel.ops.heartbeat.beat"
SCHEDULE_NAME = "ops.heartbeat"


def beat(source: str = "schedule") -> str:
    """Record that a worker is alive now. Returns the timestamp written (for the task result)."""
    now = timezone.now()
    Heartbeat.objects.update_or_create(
        name=WORKER,
        defaults={
            "beat_at": now,
            "detail": {"host": socket.gethostname(), "pid": os.getpid(), "source": source},
        },
    )
    node_beat(source)  # this node's own heartbeat and the health of its nginx and php-fpm
    return now.isoformat()


def on_worker_spawn(sender: Any = None, proc_name: str = "", **kwargs: Any) -> None:
    """django-q2 `post_spawn` receiver; must never break the worker."""
    try:
        beat(source="spawn")
    except Exception:  # noqa: BLE001 - the DB may be down while the worker starts
        # The schedule beats again within a minute; until then the dashboard says the worker is
        # not seen (it never claims a beat that was not written). Say why in the worker's log.
        logger.exception("worker heartbeat on spawn was not recorded")


def last_beat() -> tuple[datetime | None, float | None]:
    row = Heartbeat.objects.filter(name=WORKER).only("beat_at").first()
    if row is None:
        return None, None
    return row.beat_at, max(0.0, (timezone.now() - row.beat_at).total_seconds())


def max_age() -> int:
    """Seconds after which a silent worker counts as down (the schedule beats every ~60-90 s)."""
    value = getattr(settings, "NUSANTARA_HEARTBEAT_MAX_AGE", None)
    return int(value or os.environ.get("NUSANTARA_HEARTBEAT_MAX_AGE", "180"))


def ensure_schedule(using: str = "default") -> None:
    """The `ops.heartbeat` schedule of every node (each on its own queue), idempotent."""
    from panel.nodes.services import ensure_node_schedules

    ensure_node_schedules(using=using)


def node_beat(source: str = "schedule") -> None:
    """The node's worker reports: heartbeat time and what it measured of its own nginx and
    php-fpm (the same probes as the dashboard, run on the node itself)."""
    now = timezone.now()
    health = {
        "nginx": _safe(probe_nginx, _state(UNKNOWN)),
        "php-fpm": _safe(probe_phpfpm, _state(UNKNOWN)),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "source": source,
        "measured_at": now.isoformat(),
    }
    Node.objects.filter(name=settings.NUSANTARA_NODE).update(
        last_heartbeat_at=now, health=health, updated_at=now
    )
