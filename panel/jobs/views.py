"""Jobs: list, detail with live status, retry."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from panel.accounts.access import AuthedRequest
from panel.jobs.models import Job
from panel.jobs.services import JobBusy, job_retry
from panel.web.access import get_job_for
from panel.web.decorators import login_required
from panel.web.paging import paginate
from panel.web.selectors import latest_jobs, site_names

from .forms import JobFilterForm


@login_required
@require_GET
def job_list(request: AuthedRequest) -> HttpResponse:
    filters = JobFilterForm(request.GET)
    qs = Job.objects.visible_to(request.user).select_related("created_by").defer("log", "payload")
    status = filters.cleaned_data["status"] if filters.is_valid() else ""
    if status:
        qs = qs.filter(status=status)
    if request.user.is_admin and not status:
        page = paginate(request, fetch=lambda start, stop: latest_jobs(qs, start, stop))
    else:
        page = paginate(request, qs.order_by("-created_at"))
    sites = site_names({job.site_id for job in page.rows if job.site_id}, request.user)
    for job in page.rows:
        job.site = sites.get(job.site_id)
    context = {
        "page": page,
        "filters": filters,
        # The table refreshes itself while a job on this page is still queued or running.
        "any_active": any(job.is_active for job in page.rows),
    }
    template = "web/job_list.html#rows" if request.htmx else "web/job_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def job_detail(request: AuthedRequest, pk: Any) -> HttpResponse:
    job = get_job_for(request.user, pk)
    site = site_names({job.site_id}, request.user).get(job.site_id) if job.site_id else None
    job.site = site  # type: ignore[attr-defined]  # shown beside it (jobs.site_id has no FK)

    template = "web/job_detail.html#live" if request.htmx else "web/job_detail.html"
    # Lines marked admin-only (a bug's traceback) are for administrators, not the site's owner.
    log = [line for line in job.log if request.user.is_admin or not line.get("admin")]
    response = render(request, template, {"job": job, "log": log})
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_POST
def job_retry_view(request: AuthedRequest, pk: Any) -> HttpResponse:
    if not request.user.is_admin:
        raise Http404  # not a 403: do not confirm that the job exists
    job = get_job_for(request.user, pk)
    try:
        job_retry(job=job, user=request.user)
    except JobBusy as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:  # a rate limit (panel.jobs.limits)
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The job was queued again."))
    return redirect("job_detail", pk=job.pk)
