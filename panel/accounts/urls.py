"""Login/logout, own password, two-factor, and user management (admins)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import user_views, views

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", views.password_change, name="password_change"),
    path("accounts/otp/", views.otp_verify, name="otp_verify"),
    path("accounts/2fa/", views.two_factor_status, name="two_factor"),
    path("accounts/2fa/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("accounts/2fa/confirm/", views.two_factor_confirm, name="two_factor_confirm"),
    path("accounts/2fa/recovery/", views.two_factor_recovery, name="two_factor_recovery"),
    path("accounts/2fa/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("users/", user_views.user_list, name="user_list"),
    path("users/new/", user_views.user_new, name="user_new"),
    path("users/<uuid:pk>/", user_views.user_detail, name="user_detail"),
]
