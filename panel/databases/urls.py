"""A site's databases page (paths: DESIGN.md "Web")."""

from django.urls import path

from . import views

urlpatterns = [
    path("sites/<uuid:pk>/databases/", views.site_databases, name="site_databases"),
]
