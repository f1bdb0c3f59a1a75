"""Two-factor gate: a signed-in user with a confirmed TOTP device must pass the OTP step first.

Login itself is Django's password view; this middleware then sends every request of a session
that has not been verified by django-otp to /accounts/otp/, except the few pages needed to get
there (the OTP step, logout, language switch, static files, health check).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

EXEMPT_URL_NAMES = {"otp_verify", "logout", "set_language", "healthz", "login"}


def user_needs_otp(user: object) -> bool:
    """Authenticated, not yet verified in this session, and has a confirmed device."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_verified():  # type: ignore[attr-defined]
        return False
    # The recovery codes (static device) only exist next to a confirmed TOTP device.
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


class OTPRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._exempt(request.path_info) or not user_needs_otp(request.user):
            return self.get_response(request)
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{reverse('otp_verify')}?{query}")

    @staticmethod
    def _exempt(path: str) -> bool:
        if path.startswith("/" + settings.STATIC_URL.lstrip("/")):
            return True
        try:
            return resolve(path).url_name in EXEMPT_URL_NAMES
        except Resolver404:
            return True
