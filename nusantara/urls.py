"""URL map; the paths are stable (DESIGN.md "Web")."""

from django.contrib import admin
from django.urls import include, path

from panel.ops.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("panel.accounts.urls")),
    path("", include("panel.audit.urls")),
    path("", include("panel.web.urls")),
    path("", include("panel.sites.urls")),
    path("", include("panel.tenancy.urls")),
    path("", include("panel.databases.urls")),
    path("", include("panel.certificates.urls")),
    path("", include("panel.jobs.urls")),
    path("", include("panel.nodes.urls")),
]
