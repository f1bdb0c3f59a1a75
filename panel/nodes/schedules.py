"""The schedules every node runs on its own queue (django-q2 `Schedule.cluster` = node name):
its heartbeat, the reaper of its jobs, the renewal of its certificates and the disk use of its
sites' homes (a home can only be measured where it lives).

A schedule is identified by (func, cluster); its name is the plain one (`ops.heartbeat`,
`jobs.reaper`, `ssl-renewal`) for the node of this process and `<name>@<node>` for the others.
Schedules of the embedded default made before nodes existed (cluster NULL, which only a worker
named like the prefix would run) are handed to this process's node."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone


@dataclass(frozen=True)
class NodeSchedule:
    name: str
    func: str
    schedule_type: str  # django-q2: "I" minutes, "D" daily
    minutes: int | None
    first_run_in: dt.timedelta
    # A setting that gives `minutes` instead (read at each ensure: a changed interval is applied
    # at the next migrate or ensure_schedules).
    minutes_setting: str | None = None

    def interval(self) -> int | None:
        return getattr(settings, self.minutes_setting) if self.minutes_setting else self.minutes


HEARTBEAT = NodeSchedule("ops.heartbeat", "panel.ops.heartbeat.beat", "I", 1, dt.timedelta(0))
REAPER = NodeSchedule("jobs.reaper", "panel.jobs.recovery.reap", "I", 1, dt.timedelta(0))
RENEWAL = NodeSchedule(
    "ssl-renewal",
    "panel.certificates.services.renewal_run",
    "D",
    None,
    dt.timedelta(minutes=1),
)
# The first run a minute after the schedule appears (a fresh install or an upgrade shows
# numbers soon), then every NUSANTARA_DISK_USAGE_INTERVAL minutes.
DISK_USAGE = NodeSchedule(
    "tenancy.disk_usage",
    "panel.tenancy.usage.measure_all",
    "I",
    None,
    dt.timedelta(minutes=1),
    minutes_setting="NUSANTARA_DISK_USAGE_INTERVAL",
)
ALL = (HEARTBEAT, REAPER, RENEWAL, DISK_USAGE)


def schedule_name(base: str, node_name: str) -> str:
    return base if node_name == settings.NUSANTARA_NODE else f"{base}@{node_name}"


def ensure_for(node_name: str, *, using: str = "default") -> None:
    """Create or correct the schedules of one node (idempotent)."""
    from django_q.models import Schedule

    objects = Schedule.objects.using(using)
    for spec in ALL:
        if node_name == settings.NUSANTARA_NODE:
            objects.filter(func=spec.func, cluster__isnull=True).update(cluster=node_name)
        wanted: dict[str, Any] = {
            "name": schedule_name(spec.name, node_name),
            "schedule_type": spec.schedule_type,
            "minutes": spec.interval(),
            "repeats": -1,
        }
        rows = list(objects.filter(func=spec.func, cluster=node_name).order_by("id"))
        for extra in rows[1:]:
            extra.delete()
        if not rows:
            objects.create(
                func=spec.func,
                cluster=node_name,
                next_run=timezone.now() + spec.first_run_in,
                **wanted,
            )
            continue
        row = rows[0]
        if any(getattr(row, key) != value for key, value in wanted.items()):
            for key, value in wanted.items():
                setattr(row, key, value)
            row.save()
