"""Admin for jobs: view only. A job's row is its history; the one action, retry, goes through
the panel's `job_retry` (site lock, busy check, rate limits, audit)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from panel.audit.admin import ReadOnlyAdminMixin, run_per_object

from .models import Job, JobStatus


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "type",
        "status",
        "created_by",
        "site_id",
        "attempts",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "type", "created_at")
    search_fields = ("type", "error_message", "created_by__username")
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"
    actions = ["retry_failed"]
    fields = (
        "id",
        "type",
        "status",
        "created_by",
        "site_id",
        "attempts",
        "worker",
        "payload",
        "error_message",
        "log",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_search_results(
        self, request: HttpRequest, queryset: Any, search_term: str
    ) -> tuple[Any, bool]:
        # A pasted job or site id finds its jobs; other terms search the text columns.
        try:
            wanted = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(id=wanted) | queryset.filter(site_id=wanted), False

    @admin.action(description=gettext_lazy("Retry selected failed jobs"))
    def retry_failed(self, request: HttpRequest, queryset: Any) -> None:
        from .services import JobBusy, job_retry

        run_per_object(
            self,
            request,
            queryset.filter(status=JobStatus.FAILED),
            lambda job: job_retry(job=job, user=request.user),
            _("%(count)s job(s) queued again."),
            refusals=(JobBusy,),
        )
