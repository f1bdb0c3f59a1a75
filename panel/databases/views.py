"""A site's databases: create, change a password, delete (one POST URL; the card lives on the
site page). A generated password is shown once, in the response to the POST that made it: the
page is rendered directly (no redirect) and is not cached; the panel keeps no copy."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from panel.accounts.access import AuthedRequest
from panel.jobs.services import JobBusy
from panel.nodes.services import on_this_node
from panel.sites.models import Runtime
from panel.web.access import get_site_for
from panel.web.decorators import login_required
from panel.web.forms import PanelForm, add_service_errors

from . import server
from .models import Database


class DatabaseCreateForm(PanelForm):
    name = forms.CharField(
        label=gettext_lazy("Database name"),
        max_length=100,
        help_text=gettext_lazy(
            "Lower-case letters, digits and _; the site user is put in front (e.g. shop)."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label=gettext_lazy("Password"),
        required=False,
        strip=False,
        max_length=1000,
        help_text=gettext_lazy("Leave empty to get a generated one, shown once."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )


def _connection(site: Any) -> dict[str, Any]:
    conf = server.configured()
    host = settings.NUSANTARA_MARIADB_HOST_FOR_CUSTOMERS or (conf.host if conf else "")
    return {"host": host, "port": conf.port if conf else 3306}


def databases_context(request: AuthedRequest, site: Any, **extra: Any) -> dict[str, Any]:
    """What the databases card of the site page shows: rows with their size, the connection
    details, or why databases are off."""
    rows = list(site.databases.all())
    off = ""
    sizes: dict[str, int] = {}
    if not settings.NUSANTARA_MARIADB_URL:
        off = _("no MariaDB is configured on this server (NUSANTARA_MARIADB_URL).")
    elif not on_this_node(site):
        pass  # the databases are on the site's node's MariaDB: no sizes from here
    elif site.system_user:
        try:
            sizes = server.sizes(site.system_user)
        except server.MariaDBError as exc:
            off = _("MariaDB does not answer: %(error)s") % {"error": exc}
    for row in rows:
        row.size = sizes.get(row.name)
    shown = extra.get("new_password")
    return {
        "databases": {
            "rows": rows,
            "off": off,
            "php": site.runtime == Runtime.PHP,
            "max": settings.NUSANTARA_MAX_DATABASES_PER_USER,
            "new_password": shown,  # {"database": Database, "password": str} once, or None
            **_connection(site),
        },
        "database_form": extra.get("database_form") or DatabaseCreateForm(),
    }


def databases_card(
    request: AuthedRequest, site: Any, context: dict[str, Any], forms: dict[str, Any]
) -> dict[str, Any]:
    """The databases card of the site page (registered in panel.sites.extensions)."""
    return databases_context(request, site, **forms)


def _back(site: Any) -> HttpResponse:
    return redirect(reverse("site_detail", args=[site.pk]) + "#databases")


def _page(request: AuthedRequest, site: Any, status: int = 200, **extra: Any) -> HttpResponse:
    from panel.sites.views import _detail_context

    context = _detail_context(request, site)
    context.update(databases_context(request, site, **extra))
    response = render(request, "web/site_detail.html", context, status=status)
    add_never_cache_headers(response)  # it may hold a password shown once
    return response


def _database(request: AuthedRequest, site: Any, raw: str) -> Database:
    try:
        pk = uuid.UUID(raw)
    except ValueError:
        raise Http404
    visible = Database.objects.visible_to(request.user)
    database = visible.filter(site=site, pk=pk).select_related("site").first()
    if database is None:
        raise Http404
    return database


@login_required
@require_http_methods(["GET", "POST"])
def site_databases(request: AuthedRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
    if request.method == "GET":
        return _back(site)
    from .services import database_create, database_delete, database_set_password

    try:
        if "delete" in request.POST:
            database = _database(request, site, request.POST["delete"])
            database_delete(user=request.user, database=database)
            messages.success(
                request,
                _("Database %(name)s and its user are being deleted.") % {"name": database.name},
            )
            return _back(site)
        if "rotate" in request.POST:
            database = _database(request, site, request.POST["rotate"])
            given = request.POST.get("password", "")
            _job, password = database_set_password(
                user=request.user, database=database, password=given
            )
            messages.success(
                request,
                _("New password for %(name)s: it replaces the old one in a moment.")
                % {"name": database.name},
            )
            if given:
                return _back(site)
            shown = {"database": database, "password": password}
            return _page(request, site, new_password=shown)
        if "name" in request.POST:
            form = DatabaseCreateForm(request.POST)
            if not form.is_valid():
                return _page(request, site, status=400, database_form=form)
            given = form.cleaned_data.get("password") or ""
            try:
                database, password = database_create(
                    user=request.user,
                    site=site,
                    name=form.cleaned_data["name"],
                    password=given,
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
                return _page(request, site, status=400, database_form=form)
            messages.success(
                request, _("Database %(name)s is being created.") % {"name": database.name}
            )
            if given:
                return _back(site)  # the customer knows it: never echo a password back
            return _page(request, site, new_password={"database": database, "password": password})
    except (JobBusy, ValidationError) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, text)
        return _back(site)
    messages.error(request, _("Nothing to change: create a database, or pick one to change."))
    return _back(site)
