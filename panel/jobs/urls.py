"""Job pages (paths: DESIGN.md "Web")."""

from django.urls import path

from . import views

urlpatterns = [
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/<uuid:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:pk>/retry/", views.job_retry_view, name="job_retry"),
]
