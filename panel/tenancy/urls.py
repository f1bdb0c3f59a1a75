"""A site's SFTP, files and logs pages (paths: DESIGN.md "Web")."""

from django.urls import path

from . import file_views, sftp_views

urlpatterns = [
    path("sites/<uuid:pk>/sftp/", sftp_views.site_sftp, name="site_sftp"),
    path("sites/<uuid:pk>/files/", file_views.site_files, name="site_files"),
    path("sites/<uuid:pk>/logs/", file_views.site_logs, name="site_logs"),
]
