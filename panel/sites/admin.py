"""Admin for site records. Creating and deleting a site is the panel's job (nginx, files,
certificates), so the admin only views and repairs records (e.g. a status stuck on deleting)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from panel.audit.admin import AuditedAdminMixin
from panel.certificates.models import SslCertificate

from .models import Site


class CertificateInline(admin.TabularInline):
    model = SslCertificate
    fields = ("provider", "status", "expires_at", "failure_count", "error_message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Site)
class SiteAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("domain", "runtime", "status", "created_by", "created_at", "updated_at")
    list_filter = ("status", "runtime", "created_at")
    search_fields = ("domain", "root_path", "created_by__username")
    list_select_related = ("created_by",)
    # Not autocomplete_fields: Django's autocomplete widget renders a bad owner id sent back with
    # the form by filtering on it, and an invalid UUID there is a 500; the raw-id widget copes.
    raw_id_fields = ("created_by",)
    # suspended_at changes only through the panel's suspend/resume jobs (they re-render nginx).
    readonly_fields = ("id", "suspended_at", "created_at", "updated_at")
    fields = (
        "id",
        "domain",
        "runtime",
        "status",
        "root_path",
        "upstream",
        "suspended_at",
        "created_by",
        "created_at",
        "updated_at",
    )
    inlines = [CertificateInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
