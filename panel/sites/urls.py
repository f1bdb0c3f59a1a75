"""Site pages (paths: DESIGN.md "Web")."""

from django.urls import path

from . import views

urlpatterns = [
    path("sites/", views.site_list, name="site_list"),
    path("sites/new/", views.site_new, name="site_new"),
    path("sites/<uuid:pk>/", views.site_detail, name="site_detail"),
    path("sites/<uuid:pk>/settings/", views.site_settings, name="site_settings"),
    path("sites/<uuid:pk>/suspension/", views.site_suspension, name="site_suspension"),
    path("sites/<uuid:pk>/hsts/", views.site_hsts, name="site_hsts"),
    path("sites/<uuid:pk>/aliases/", views.site_aliases, name="site_aliases"),
    path("sites/<uuid:pk>/aliases/remove/", views.site_alias_remove, name="site_alias_remove"),
    path("sites/<uuid:pk>/redirect/", views.site_redirect, name="site_redirect"),
    path("sites/<uuid:pk>/delete/", views.site_delete, name="site_delete"),
]
