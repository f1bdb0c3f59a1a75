"""A site's SFTP access: add or remove SSH keys, set or remove the password (one POST URL;
the card lives on the site page)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.http.request import split_domain_port
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from panel.accounts.access import AuthedRequest
from panel.jobs.services import JobBusy
from panel.nodes.services import on_this_node
from panel.tenancy import rootcmd
from panel.web.access import get_site_for
from panel.web.decorators import login_required
from panel.web.forms import PanelForm, add_service_errors


class SftpKeyForm(PanelForm):
    public_key = forms.CharField(
        label=gettext_lazy("Public key"),
        strip=False,  # the parser decides what white space means
        max_length=16 * 1024 + 2,
        help_text=gettext_lazy("One line from your .pub file, e.g. ssh-ed25519 AAAA... you@laptop"),
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
    )


class SftpPasswordForm(PanelForm):
    password = forms.CharField(
        label=gettext_lazy("New SFTP password"),
        required=False,
        strip=False,
        help_text=gettext_lazy("Leave empty to remove the password (keys keep working)."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )


def sftp_context(request: AuthedRequest, site: Any, **forms_: Any) -> dict[str, Any]:
    """What the SFTP card of the site page shows."""
    host = settings.NUSANTARA_SFTP_HOST or split_domain_port(request.get_host())[0]
    port = settings.NUSANTARA_SFTP_PORT
    # Without isolation no site has a system account of its own: nothing to log in as.
    user = (site.system_user or "") if rootcmd.isolation_enabled() else ""
    # The site's home is on its node's disk: this server's host (or NUSANTARA_SFTP_HOST, the
    # panel's) would land the customer where it is not, or on a copy left after a move.
    remote = None if on_this_node(site) else site.node.name
    return {
        "sftp": {
            "isolation": rootcmd.isolation_enabled(),
            "host": "" if remote else host,
            "port": port,
            "user": user,
            "remote_node": remote,
            "command": f"sftp -P {port} {user}@{host}" if user and not remote else "",
            "keys": list(site.ssh_keys.order_by("created_at")),
            "max_keys": settings.NUSANTARA_SFTP_MAX_KEYS,
        },
        "sftp_key_form": forms_.get("sftp_key_form") or SftpKeyForm(),
        "sftp_password_form": forms_.get("sftp_password_form") or SftpPasswordForm(),
    }


def sftp_card(
    request: AuthedRequest, site: Any, context: dict[str, Any], forms: dict[str, Any]
) -> dict[str, Any]:
    """The SFTP card of the site page (registered in panel.sites.extensions)."""
    return sftp_context(request, site, **forms)


def _back(site: Any) -> HttpResponse:
    return redirect(reverse("site_detail", args=[site.pk]) + "#sftp")


def _rerender(request: AuthedRequest, site: Any, **forms_: Any) -> HttpResponse:
    from panel.sites.views import _detail_context

    context = _detail_context(request, site)
    context.update(sftp_context(request, site, **forms_))
    return render(request, "web/site_detail.html", context, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def site_sftp(request: AuthedRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
    if request.method == "GET":
        return _back(site)
    from panel.tenancy.models import SiteSshKey
    from panel.tenancy.sftp import sftp_key_add, sftp_key_remove, sftp_password_set

    try:
        if "remove_key" in request.POST:
            try:
                key_id = uuid.UUID(request.POST["remove_key"])
            except ValueError:
                raise Http404
            key = SiteSshKey.objects.visible_to(request.user).filter(site=site, pk=key_id).first()
            if key is None:
                raise Http404
            sftp_key_remove(user=request.user, site=site, key=key)
            messages.success(
                request,
                _("Key %(fingerprint)s removed; it stops working in a moment.")
                % {"fingerprint": key.fingerprint},
            )
            return _back(site)
        if "public_key" in request.POST:
            form = SftpKeyForm(request.POST)
            if not form.is_valid():
                return _rerender(request, site, sftp_key_form=form)
            try:
                key = sftp_key_add(
                    user=request.user, site=site, public_key=form.cleaned_data["public_key"]
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
                return _rerender(request, site, sftp_key_form=form)
            messages.success(
                request,
                _("Key %(fingerprint)s added; it works in a moment.")
                % {"fingerprint": key.fingerprint},
            )
            return _back(site)
        if "password" in request.POST:
            form = SftpPasswordForm(request.POST)  # type: ignore[assignment]  # its own branch
            form.is_valid()
            password = form.cleaned_data.get("password") or ""
            try:
                sftp_password_set(user=request.user, site=site, password=password)
            except ValidationError as exc:
                add_service_errors(form, exc)
                return _rerender(request, site, sftp_password_form=form)
            messages.success(
                request,
                _("SFTP password set; it works in a moment.")
                if password
                else _("SFTP password removed."),
            )
            return _back(site)
    except (JobBusy, ValidationError) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, text)
        return _back(site)
    messages.error(request, _("Nothing to change: add a key, remove one or set a password."))
    return _back(site)
