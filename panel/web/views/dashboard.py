"""The dashboard: what needs attention now. A fixed number of queries whatever the data size."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from panel.accounts.access import AuthedRequest
from panel.certificates.models import CertStatus, SslCertificate
from panel.jobs.models import Job, JobStatus
from panel.sites.forms import SUSPENDED
from panel.sites.models import Site, SiteStatus

from .. import health
from ..decorators import login_required
from ..selectors import latest_jobs, page_by_ids, site_names

ATTENTION_LIMIT = 10
JOBS_LIMIT = 8


@login_required
@require_GET
def dashboard(request: AuthedRequest) -> HttpResponse:
    user = request.user
    rows = list(
        Site.objects.visible_to(user)
        .order_by()
        .values("status")
        .annotate(n=Count("id"), suspended=Count("id", filter=Q(suspended_at__isnull=False)))
    )
    counts = {row["status"]: row["n"] for row in rows}
    total_sites = sum(counts.values())
    # A suspended site is counted as "Suspended", not "Active" (it answers 503).
    suspended_active = sum(r["suspended"] for r in rows if r["status"] == SiteStatus.ACTIVE)
    by_status: list[tuple[str, Any, int]] = []
    for value, label in SiteStatus.choices:
        if value == SiteStatus.ACTIVE:
            by_status.append((value, label, counts.get(value, 0) - suspended_active))
            by_status.append((SUSPENDED, _("Suspended"), suspended_active))
        else:
            by_status.append((value, label, counts.get(value, 0)))

    soon = timezone.now() + timedelta(days=settings.NUSANTARA_RENEW_BEFORE_DAYS)
    attention = SslCertificate.objects.visible_to(user).filter(
        Q(status__in=[CertStatus.FAILED, CertStatus.EXPIRED])
        | Q(status=CertStatus.ISSUED, expires_at__lte=soon)
    )
    certificates = page_by_ids(
        attention.select_related("site"), ["expires_at", "pk"], 0, ATTENTION_LIMIT
    )
    jobs = Job.objects.visible_to(user).select_related("created_by")
    if user.is_admin:
        recent_jobs = latest_jobs(jobs, 0, JOBS_LIMIT)
    else:
        recent_jobs = list(jobs.order_by("-created_at")[:JOBS_LIMIT])
    failed_jobs = list(jobs.filter(status=JobStatus.FAILED).order_by("-created_at")[:JOBS_LIMIT])
    # Each job's site by its domain: one query for both tables (jobs.site_id has no FK).

    sites = site_names({j.site_id for j in [*recent_jobs, *failed_jobs] if j.site_id}, user)
    for job in [*recent_jobs, *failed_jobs]:
        job.site = sites.get(job.site_id)

    context = {
        "by_status": by_status,
        "total_sites": total_sites,
        "suspended": sum(row["suspended"] for row in rows),
        "quota": None if user.is_admin else user.site_limit,
        "certificates": certificates,
        "recent_jobs": recent_jobs,
        "failed_jobs": failed_jobs,
        "renew_days": settings.NUSANTARA_RENEW_BEFORE_DAYS,
        "machinery": health.machinery() if user.is_admin else None,
    }
    from panel.tenancy.rootcmd import isolation_enabled

    context["isolation_off"] = not isolation_enabled()
    return render(request, "web/dashboard.html", context)
