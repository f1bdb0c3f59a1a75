"""Certificate pages (paths: DESIGN.md "Web")."""

from django.urls import path

from . import views

urlpatterns = [
    path("certificates/", views.certificate_list, name="certificate_list"),
    path("sites/<uuid:pk>/certificate/", views.site_certificate, name="site_certificate"),
    path(
        "sites/<uuid:pk>/certificate/upload/",
        views.site_certificate_upload,
        name="site_certificate_upload",
    ),
]
