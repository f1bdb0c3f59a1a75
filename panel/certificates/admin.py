"""Admin for certificate records: issuance and renewal are jobs, so no add or delete here;
changing a record (e.g. resetting the renewal backoff) is allowed and audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from panel.audit.admin import AuditedAdminMixin

from .models import SslCertificate


@admin.register(SslCertificate)
class SslCertificateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "site",
        "provider",
        "status",
        "expires_at",
        "failure_count",
        "next_attempt_at",
        "updated_at",
    )
    list_filter = ("status", "provider", "expires_at")
    search_fields = ("site__domain", "serial", "error_message")
    list_select_related = ("site",)
    readonly_fields = ("id", "site", "serial", "created_at", "updated_at")
    fields = (
        "id",
        "site",
        "provider",
        "status",
        "expires_at",
        "serial",
        "error_message",
        "failure_count",
        "next_attempt_at",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
