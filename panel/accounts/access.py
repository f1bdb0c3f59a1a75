"""Access helpers for views: admin-only pages are a 404 for everyone else."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django_htmx.middleware import HtmxDetails

from .models import User

View = Callable[..., HttpResponseBase]


class AuthedRequest(HttpRequest):
    """The request a view behind login_required (or admin_required) gets: a signed-in panel
    user, and django-htmx's details. Only for the type checker; at run time it is the same
    HttpRequest."""

    user: User
    htmx: HtmxDetails


def admin_required(view: View) -> View:
    """Anonymous -> login redirect; signed-in non-admin -> 404 (the page does not exist)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not getattr(request.user, "is_admin", False):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper
