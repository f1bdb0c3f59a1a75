"""Admin for certificate records: read-only. A certificate row says what nginx serves, so only
the certificate jobs (issue, renew, install) change it."""

from __future__ import annotations

from django.contrib import admin

from panel.audit.admin import ReadOnlyAdminMixin

from .models import SslCertificate


@admin.register(SslCertificate)
class SslCertificateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
