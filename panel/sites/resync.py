"""Bring every active site's vhost back in line with the database (`nginx.resync`).

`plan()` only reads (the database and the vhost files) and says what differs; `nginx_resync`
queues the job that writes (one nginx transaction: one test, one reload), and the worker's
handler applies it. `manage.py nginx_resync` uses all three (docs/operations.md).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from panel.audit.actions import AuditAction
from panel.audit.services import audit_record
from panel.jobs.models import Job
from panel.jobs.runner import JobFailed, job_log, register
from panel.jobs.services import job_create
from panel.jobs.types import JobType

from . import nginx
from .models import Site, SiteStatus

RESYNC = JobType.NGINX_RESYNC


@dataclass
class Plan:
    changes: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    sites: int = 0
    errors: int = 0


def plan() -> Plan:
    """What differs between the database and the vhost files (read-only)."""
    result = Plan()
    known = set()
    # This node's sites only: the vhost files of another node are on that node's disk.
    mine = Site.objects.filter(status=SiteStatus.ACTIVE, node__name=settings.NUSANTARA_NODE)
    for site in mine.prefetch_related("aliases").order_by("domain").iterator(chunk_size=500):
        known.add(site.domain)
        try:
            wanted = nginx.render_site(site)
        except Exception as exc:  # noqa: BLE001 - reported per site, the others go on
            result.lines.append(f"ERROR    {site.domain}: cannot render: {exc}")
            result.errors += 1
            continue
        path = nginx.conf_path(site.domain)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == wanted:
            continue
        result.changes[site.domain] = wanted
        if current is None:
            result.lines.append(f"MISSING  {site.domain}: {path} does not exist")
            continue
        result.lines.append(f"DIFFERS  {site.domain}: {path}")
        diff = difflib.unified_diff(
            current.splitlines(), wanted.splitlines(), "on disk", "from the database", n=1
        )
        result.lines.extend(f"    {line}" for line in list(diff)[2:40])
    conf_dir = nginx.conf_path("x").parent
    for path in sorted(conf_dir.glob("*.conf")) if conf_dir.exists() else []:
        if path.name[: -len(".conf")] not in known:
            result.lines.append(f"UNKNOWN  {path}: no active site has this vhost (left alone)")
    result.sites = len(known)
    result.lines.append(f"{len(known)} active site(s), {len(result.changes)} vhost(s) to correct")
    return result


def nginx_resync(*, user: Any, deliver: bool = True) -> Job:
    """Queue an `nginx.resync` job (audit `nginx.resync`). With deliver=False the caller runs
    it itself (`manage.py nginx_resync --now`, when no worker runs)."""
    with transaction.atomic():
        job = job_create(type=RESYNC, payload={}, user=user, deliver=deliver)
        audit_record(
            actor=user,
            action=AuditAction.NGINX_RESYNC,
            target=job,
            metadata={"job_id": str(job.pk), "via": "queue" if deliver else "now"},
        )
    return job


def run(job: Job) -> None:
    from panel.tenancy.migrate import queue_migrations

    found = plan()
    for line in found.lines:
        job_log(job, line)
    queued, _busy = queue_migrations()
    for queued_job in queued:
        job_log(job, f"HOME     {queued_job.payload['domain']}: site.migrate_home {queued_job.pk}")
    result = nginx.apply(found.changes)
    for domain, message in sorted(result.rejected.items()):
        job_log(job, f"REJECTED {domain}: {message}")
    summary = (
        f"corrected {len(result.applied)}, rejected {len(result.rejected)}, "
        f"{result.tests} nginx test run(s), {'reloaded' if result.reloaded else 'no reload'}"
    )
    job_log(job, summary)
    audit_record(
        actor=None,
        action=AuditAction.NGINX_RESYNCED,
        target=job,
        metadata={
            "job_id": str(job.pk),
            "corrected": result.applied,
            "rejected": sorted(result.rejected),
            "render_errors": found.errors,
        },
    )
    if result.rejected:
        raise JobFailed(
            _("nginx refused the corrected vhost of %(domains)s; see the job's log.")
            % {"domains": ", ".join(sorted(result.rejected))}
        )


register(RESYNC)(run)
