"""Access helpers for views: admin-only pages are a 404 for everyone else."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def admin_required(view: View) -> View:
    """Anonymous -> login redirect; signed-in non-admin -> 404 (the page does not exist)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "is_admin", False):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper
