"""Dashboard, sites, certificates and jobs pages (paths: DESIGN.md "Web")."""

from django.urls import path

from panel.databases.views import site_databases
from panel.tenancy import file_views

from .views import dashboard, jobs, sftp, sites

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("sites/", sites.site_list, name="site_list"),
    path("sites/new/", sites.site_new, name="site_new"),
    path("sites/<uuid:pk>/", sites.site_detail, name="site_detail"),
    path("sites/<uuid:pk>/settings/", sites.site_settings, name="site_settings"),
    path("sites/<uuid:pk>/suspension/", sites.site_suspension, name="site_suspension"),
    path("sites/<uuid:pk>/hsts/", sites.site_hsts, name="site_hsts"),
    path("sites/<uuid:pk>/delete/", sites.site_delete, name="site_delete"),
    path("sites/<uuid:pk>/certificate/", sites.site_certificate, name="site_certificate"),
    path(
        "sites/<uuid:pk>/certificate/upload/",
        sites.site_certificate_upload,
        name="site_certificate_upload",
    ),
    path("sites/<uuid:pk>/sftp/", sftp.site_sftp, name="site_sftp"),
    path("sites/<uuid:pk>/files/", file_views.site_files, name="site_files"),
    path("sites/<uuid:pk>/logs/", file_views.site_logs, name="site_logs"),
    path("sites/<uuid:pk>/databases/", site_databases, name="site_databases"),
    path("certificates/", jobs.certificate_list, name="certificate_list"),
    path("jobs/", jobs.job_list, name="job_list"),
    path("jobs/<uuid:pk>/", jobs.job_detail, name="job_detail"),
    path("jobs/<uuid:pk>/retry/", jobs.job_retry_view, name="job_retry"),
]
