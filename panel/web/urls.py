"""The dashboard; every other page is in the urls.py of the app that owns it."""

from django.urls import path

from .views import dashboard

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
]
