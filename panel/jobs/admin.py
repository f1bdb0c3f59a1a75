"""Admin for jobs: view only. A job's row is its history; retries go through the panel."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from panel.audit.admin import ReadOnlyAdminMixin

from .models import Job


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
