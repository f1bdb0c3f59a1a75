"""login_required that also understands htmx polling: a fragment request whose session has
expired gets HX-Redirect to the login page instead of the login page swapped into the fragment;
admin_required: admin-only pages are a 404 for everyone else."""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required as django_login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import resolve_url


def login_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    plain = django_login_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        htmx = getattr(request, "htmx", None)
        if htmx and not request.user.is_authenticated:
            page = htmx.current_url_abs_path or "/"
            response = HttpResponse(status=204)
            response["HX-Redirect"] = redirect_to_login(page, resolve_url(settings.LOGIN_URL)).url
            return response
        return plain(request, *args, **kwargs)

    return wrapper


View = Callable[..., HttpResponseBase]


def admin_required(view: View) -> View:
    """Anonymous -> login redirect; signed-in non-admin -> 404 (the page does not exist)."""

    @django_login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not getattr(request.user, "is_admin", False):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper
