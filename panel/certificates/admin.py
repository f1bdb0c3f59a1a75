"""Admin for certificate records: read-only. A certificate row says what nginx serves, so only
the certificate jobs (issue, renew, install) change it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from panel.audit.admin import ReadOnlyAdminMixin
from panel.sites.admin import SiteAdmin

from .models import SslCertificate


class CertificateInline(admin.TabularInline):
    model = SslCertificate
    fields = ("provider", "status", "expires_at", "failure_count", "error_message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The site admin shows a site's certificates under it.
SiteAdmin.inlines = [*SiteAdmin.inlines, CertificateInline]


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
