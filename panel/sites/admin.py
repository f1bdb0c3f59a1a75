"""Admin for site records: read-only. Every change to a site touches nginx, files and
certificates, so it goes through the panel's services and their jobs (with audit): the actions
here call `site_delete` and `site_suspend`, nothing edits the row directly."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from panel.accounts.access import AuthedRequest
from panel.audit.admin import ReadOnlyAdminMixin, run_per_object
from panel.jobs.services import JobBusy

from .models import Site, SiteDomain


class AliasInline(admin.TabularInline):
    """A site's other names, read-only: they change through `site.aliases` jobs."""

    model = SiteDomain
    fields = ("domain", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SuspendForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason (shown to the owners)"), max_length=500, strip=True
    )


@admin.register(Site)
class SiteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "domain",
        "runtime",
        "status",
        "created_by",
        "disk_use",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", "runtime", "created_at")
    search_fields = ("domain", "aliases__domain", "root_path", "created_by__username")
    list_select_related = ("created_by",)
    fields = (
        "id",
        "domain",
        "runtime",
        "status",
        "root_path",
        "upstream",
        "suspended_at",
        "redirect_mode",
        "redirect_to",
        "created_by",
        "disk_bytes",
        "disk_measured_at",
        "created_at",
        "updated_at",
    )
    # panel.certificates.admin adds the site's certificates (it builds on sites, not the reverse).
    inlines = [AliasInline]
    actions = ["delete_sites", "suspend_sites", "resume_sites"]

    @admin.display(description=gettext_lazy("disk use"), ordering="disk_bytes")
    def disk_use(self, site: Site) -> str:
        # NULL until the periodic measurement (panel/tenancy/usage.py) has run for the site.
        if site.disk_measured_at is None or site.disk_bytes is None:
            return _("not measured yet")
        return filesizeformat(site.disk_bytes)

    @admin.action(description=gettext_lazy("Delete selected sites (site.delete jobs)"))
    def delete_sites(self, request: AuthedRequest, queryset: Any) -> None:
        from .services import site_delete

        run_per_object(
            self,
            request,
            queryset,
            lambda site: site_delete(user=request.user, site=site),
            _("%(count)s site(s) are being deleted."),
            refusals=(JobBusy,),
        )

    @admin.action(description=gettext_lazy("Suspend selected sites (site.suspend jobs)"))
    def suspend_sites(self, request: AuthedRequest, queryset: Any) -> HttpResponse | None:
        from .services import site_suspend

        form = SuspendForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": _("Suspend sites"),
                "form": form,
                "sites": queryset,
                "opts": self.model._meta,
                "action": "suspend_sites",
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/sites/suspend.html", context)
        reason = form.cleaned_data["reason"]
        run_per_object(
            self,
            request,
            queryset,
            lambda site: site_suspend(user=request.user, site=site, suspend=True, reason=reason),
            _("%(count)s site(s) are being suspended."),
            refusals=(JobBusy,),
        )
        return None

    @admin.action(description=gettext_lazy("Resume selected sites (site.resume jobs)"))
    def resume_sites(self, request: AuthedRequest, queryset: Any) -> None:
        from .services import site_suspend

        run_per_object(
            self,
            request,
            queryset,
            lambda site: site_suspend(user=request.user, site=site, suspend=False),
            _("%(count)s site(s) are being resumed."),
            refusals=(JobBusy,),
        )
