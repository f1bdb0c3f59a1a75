"""Access helpers for views: admin-only pages are a 404 for everyone else (admin_required, kept
in panel/web/decorators.py so that the apps below accounts can use it too), and the request type
of a signed-in view."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from panel.web.decorators import admin_required

from .models import User

__all__ = ["AuthedRequest", "admin_required"]


class AuthedRequest(HttpRequest):
    """The request a view behind login_required (or admin_required) gets: a signed-in panel
    user, and django-htmx's details. Only for the type checker; at run time it is the same
    HttpRequest."""

    user: User
    htmx: HtmxDetails
