"""Node pages (paths: DESIGN.md "Web")."""

from django.urls import path

from . import views

urlpatterns = [
    path("nodes/", views.node_list, name="node_list"),
    path("nodes/new/", views.node_new, name="node_new"),
    path("nodes/<uuid:pk>/status/", views.node_status, name="node_status"),
]
