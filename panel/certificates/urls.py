"""Certificate pages (paths: DESIGN.md "Web")."""

from django.urls import path

from . import views

urlpatterns = [
    path("certificates/", views.certificate_list, name="certificate_list"),
]
