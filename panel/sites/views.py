"""Sites: list, create, detail (with live status), settings, HSTS, delete. Other apps add
their cards and list columns through panel/sites/extensions.py."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import idna
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from panel.accounts.access import AuthedRequest, admin_required
from panel.audit.models import AuditLog
from panel.jobs.models import ACTIVE_STATUSES, Job, JobStatus
from panel.jobs.services import JobBusy
from panel.jobs.types import JobType
from panel.nodes.services import on_this_node
from panel.sites.models import RedirectMode, Site, SiteDomain, SiteStatus
from panel.web.access import get_site_for
from panel.web.decorators import login_required
from panel.web.forms import add_service_errors
from panel.web.paging import paginate

from . import extensions
from .domains import to_unicode
from .forms import (
    SORT_DISK,
    SUSPENDED,
    AliasForm,
    RedirectModeForm,
    SiteCreateForm,
    SiteDeleteForm,
    SiteFilterForm,
    SiteHstsForm,
    SiteSettingsForm,
    SiteSuspendForm,
)

SITE_JOBS_LIMIT = 20
SITE_AUDIT_LIMIT = 20
BUSY_SITE_STATUSES = (SiteStatus.PROVISIONING, SiteStatus.DELETING)


def _on_form(form: Any, call: Any, on_invalid: Any = add_service_errors) -> Any:
    """Run a service call for a submitted form: its result, or None with the service's
    ValidationError put on the form's fields (`on_invalid`) or JobBusy above the form."""
    try:
        return call()
    except ValidationError as exc:
        on_invalid(form, exc)
    except JobBusy as exc:
        form.add_error(None, str(exc))
    return None


def _quota(user: Any) -> dict[str, int] | None:
    """A regular user's site count against their quota (User.site_limit; admins have none)."""
    if user.is_admin:
        return None
    return {"used": Site.objects.visible_to(user).count(), "limit": user.site_limit}


def _search_terms(q: str) -> set[str]:
    """Domains are stored in punycode: search for what was typed and for its punycode form."""
    terms = {q.strip().lower()}
    with contextlib.suppress(idna.IDNAError, UnicodeError, ValueError):
        terms.add(idna.encode(q.strip().lower(), uts46=True).decode("ascii"))
    return {t for t in terms if t}


@login_required
@require_GET
def site_list(request: AuthedRequest) -> HttpResponse:
    filters = SiteFilterForm(request.GET)
    qs = Site.objects.visible_to(request.user).select_related("created_by")
    if filters.is_valid():
        if q := filters.cleaned_data["q"]:
            match = Q()
            for term in _search_terms(q):
                # A site is found by any of its names (an alias such as www.<domain> too).
                alias = SiteDomain.objects.filter(site=OuterRef("pk"), domain__contains=term)
                match |= Q(domain__contains=term) | Q(Exists(alias))
            qs = qs.filter(match)
        if status := filters.cleaned_data["status"]:
            if status == SUSPENDED:
                qs = qs.filter(status=SiteStatus.ACTIVE, suspended_at__isnull=False)
            elif status == SiteStatus.ACTIVE:
                qs = qs.filter(status=status, suspended_at__isnull=True)
            else:
                qs = qs.filter(status=status)
        if (owner := filters.cleaned_data["owner"].strip()) and request.user.is_admin:
            qs = qs.filter(created_by__username=owner)
    order: list[Any] = ["domain"]
    if filters.is_valid() and filters.cleaned_data["sort"] == SORT_DISK:
        order = [F("disk_bytes").desc(nulls_last=True), "domain"]
    for columns in extensions.site_list_columns:  # e.g. the latest certificate's status
        qs = qs.annotate(**columns())
    qs = qs.order_by(*order)
    page = paginate(request, qs)
    context = {"page": page, "filters": filters, "quota": _quota(request.user)}
    return render(request, "web/site_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def site_new(request: AuthedRequest) -> HttpResponse:
    form = SiteCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        from panel.sites.services import site_create

        data = form.cleaned_data
        kwargs: dict[str, Any] = {}
        if data.get("owner"):
            kwargs["owner"] = data["owner"]
        if data.get("override_quota"):
            kwargs["override_quota"] = True
        if data.get("node"):
            kwargs["node"] = data["node"].name
        site = _on_form(
            form,
            lambda: site_create(
                user=request.user,
                domain=data["domain"],
                runtime=data["runtime"],
                upstream=data["upstream"],
                https=data["https"],
                www=data["www"],
                **kwargs,
            ),
            lambda form, exc: add_service_errors(form, exc, aliases={"created_by": "owner"}),
        )
        if site is not None:
            messages.success(
                request,
                _("Site %(domain)s is being set up. This page updates when it is ready.")
                % {"domain": site.display_domain},
            )
            return redirect("site_detail", pk=site.pk)
    return render(request, "web/site_new.html", {"form": form, "quota": _quota(request.user)})


def _detail_context(request: AuthedRequest, site: Any, **forms: Any) -> dict[str, Any]:
    certificates = list(site.certificates.order_by("-created_at")[:5])
    certificate = certificates[0] if certificates else None
    jobs = list(
        Job.objects.filter(site_id=site.pk)
        .select_related("created_by")
        .order_by("-created_at")[:SITE_JOBS_LIMIT]
    )
    live = (
        site.status in BUSY_SITE_STATUSES
        or any(job.status in ACTIVE_STATUSES for job in jobs)
        or (certificate is not None and certificate.pending)
    )
    context = {
        "site": site,
        "certificate": certificate,
        "jobs": jobs,
        "live": live,
        "live_key": _live_key(site, certificate, jobs),
        "can_request_certificate": site.status == SiteStatus.ACTIVE,
        # A queued job whose node has gone silent: say where it waits (DESIGN.md "Nodes").
        "waiting_for_node": site.node.is_offline
        and any(job.status == JobStatus.QUEUED for job in jobs),
    }
    if request.htmx and request.GET.get("seen") == context["live_key"]:
        return context  # the live fragment needs neither the audit trail nor the forms
    target_ids = [str(site.pk), *(str(c.pk) for c in certificates)]
    context["audit"] = list(
        AuditLog.objects.filter(
            target_type__in=["site", "sslcertificate"], target_id__in=target_ids
        )
        .select_related("actor")
        .order_by("-created_at")[:SITE_AUDIT_LIMIT]
    )
    context["delete_form"] = forms.get("delete_form") or SiteDeleteForm(site=site)
    context["settings_form"] = forms.get("settings_form") or SiteSettingsForm(site=site)
    context["suspend_form"] = forms.get("suspend_form") or SiteSuspendForm()
    context["hsts_form"] = forms.get("hsts_form") or SiteHstsForm()
    context["aliases"] = list(site.aliases.all())
    context["alias_form"] = forms.get("alias_form") or AliasForm()
    context["redirect_form"] = forms.get("redirect_form") or RedirectModeForm(
        site=site, aliases=context["aliases"]
    )
    context["alias_limit"] = settings.NUSANTARA_SITE_ALIAS_LIMIT
    context["names"] = _names(site, context["aliases"], certificate)
    context["suspension"] = _suspension(site)
    if request.user.is_admin and on_this_node(site):
        from panel.sites.nginx import read_vhosts

        context["vhost"], context["vhost_rejected"] = read_vhosts(site.domain)
    # The web never reads another node's files: the vhost lives on that node's disk.
    context["remote_node"] = None if on_this_node(site) else site.node
    context["can_change_settings"] = site.status in (SiteStatus.ACTIVE, SiteStatus.FAILED)
    for card in extensions.site_cards:  # files, SFTP, databases: registered by their apps
        context.update(card(request, site, context, forms))
    return context


def _names(site: Any, aliases: list[Any], certificate: Any) -> list[dict[str, Any]]:
    """Each of the site's names with what it does and whether the certificate covers it."""
    covered = certificate.covered_names if certificate is not None else set()
    rows = [{"domain": site.domain, "display": site.display_domain, "primary": True}]
    rows += [{"domain": a.domain, "display": a.display_domain, "primary": False} for a in aliases]
    canonical = {
        RedirectMode.TO_PRIMARY: site.domain,
        RedirectMode.TO_WWW: f"www.{site.domain}",
        RedirectMode.TO_ALIAS: site.redirect_to,
    }.get(site.redirect_mode)
    for row in rows:
        row["https"] = row["domain"] in covered
        row["redirects"] = canonical is not None and row["domain"] != canonical
    return rows


def _live_key(site: Any, certificate: Any, jobs: list[Any]) -> str:
    """What the live poll compares: the site's state and its unfinished jobs. When it changed
    since the page was drawn (a job ended, the site became active, a certificate was issued),
    every card may be stale, not only the job rows."""
    parts = [
        site.status,
        "suspended" if site.suspended_at else "",
        site.runtime,
        "hsts" if site.hsts else "",
        f"{certificate.pk}:{certificate.status}" if certificate else "",
        *sorted(str(job.pk) for job in jobs if job.status in ACTIVE_STATUSES),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@login_required
@require_GET
def site_detail(request: AuthedRequest, pk: Any) -> HttpResponse:
    try:
        site = get_site_for(request.user, pk)
    except Http404:
        if request.htmx:
            # The site was deleted while the page polled it: leave for the list.
            response = HttpResponse(status=200)
            response["HX-Redirect"] = "/sites/"
            return response
        raise
    context = _detail_context(request, site)
    if not request.htmx:
        template = "web/site_detail.html"
    elif request.GET.get("seen") == context["live_key"]:
        template = "web/site_detail.html#live"  # nothing ended: the job rows and status only
    else:
        # Something ended or changed: redraw every card (status, HTTPS, runtime, HSTS, SFTP,
        # files, banners) in one swap; the new cards poll again only if still live.
        template = "web/site_detail.html#cards"
    response = render(request, template, context)
    if template.endswith("#cards"):
        response["HX-Retarget"] = "#site-cards"
        response["HX-Reswap"] = "outerHTML"
    patch_vary_headers(response, ["HX-Request"])
    return response


def _suspension(site: Any) -> dict[str, Any] | None:
    """Who suspended the site, when and why (from the job that did it), or None."""
    if site.suspended_at is None:
        return None
    job = (
        Job.objects.filter(site_id=site.pk, type=JobType.SITE_SUSPEND, status=JobStatus.SUCCESS)
        .select_related("created_by")
        .order_by("-created_at")
        .first()
    )
    return {
        "since": site.suspended_at,
        "reason": job.payload.get("reason", "") if job else "",
        "by": job.created_by.username if job and job.created_by else "",
    }


@admin_required
@require_POST
def site_suspension(request: AuthedRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
    form = SiteSuspendForm(request.POST)
    suspend = request.POST.get("action") == "suspend"
    if form.is_valid():
        from panel.sites.services import site_suspend

        job = _on_form(
            form,
            lambda: site_suspend(
                user=request.user, site=site, suspend=suspend, reason=form.cleaned_data["reason"]
            ),
        )
        if job is not None:
            text = _("Suspending %(domain)s.") if suspend else _("Resuming %(domain)s.")
            messages.success(request, text % {"domain": site.display_domain})
            return redirect("job_detail", pk=job.pk)
    context = _detail_context(request, site, suspend_form=form)
    return render(request, "web/site_detail.html", context, status=400)


@login_required
@require_POST
def site_hsts(request: AuthedRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
    form = SiteHstsForm(request.POST)
    if form.is_valid():
        from panel.sites.services import site_set_hsts

        enabled = form.cleaned_data["action"] == "on"
        job = _on_form(form, lambda: site_set_hsts(user=request.user, site=site, enabled=enabled))
        if job is not None:
            text = (
                _("Switching HSTS on for %(domain)s.")
                if enabled
                else _("Switching HSTS off for %(domain)s.")
            )
            messages.success(request, text % {"domain": site.display_domain})
            return redirect("job_detail", pk=job.pk)
    context = _detail_context(request, site, hsts_form=form)
    return render(request, "web/site_detail.html", context, status=400)


@login_required
@require_POST
def site_settings(request: AuthedRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
    form = SiteSettingsForm(request.POST, site=site)
    if form.is_valid():
        from panel.sites.services import site_update

        job = _on_form(
            form,
            lambda: site_update(
                user=request.user,
                site=site,
                runtime=form.cleaned_data["runtime"],
                upstream=form.cleaned_data["upstream"],
            ),
        )
        if job is not None:
            messages.success(
                request,
                _(
                    "Applying the new settings to %(domain)s. The site keeps its current "
                    "configuration until nginx has accepted the new one."
                )
                % {"domain": site.display_domain},
            )
            return redirect("job_detail", pk=job.pk)
    context = _detail_context(request, site, settings_form=form)
    return render(request, "web/site_detail.html", context)


@login_required
@require_POST
def site_aliases(request: AuthedRequest, pk: Any) -> HttpResponse:
    """Add another name (field `domain`)."""
    site = get_site_for(request.user, pk)
    form = AliasForm(request.POST)
    if form.is_valid():
        from panel.sites.aliases import alias_add

        name = form.cleaned_data["domain"]
        job = _on_form(form, lambda: alias_add(user=request.user, site=site, domain=name))
        if job is not None:
            messages.success(
                request,
                _("Adding %(name)s to %(domain)s.")
                % {"name": to_unicode(job.payload["add"]), "domain": site.display_domain},
            )
            return redirect("job_detail", pk=job.pk)
    context = _detail_context(request, site, alias_form=form)
    return render(request, "web/site_detail.html", context, status=400)


@login_required
@require_POST
def site_alias_remove(request: AuthedRequest, pk: Any) -> HttpResponse:
    """Remove one of the site's other names (field `domain`, as stored)."""
    site = get_site_for(request.user, pk)
    from panel.sites.aliases import alias_remove

    try:
        job = alias_remove(user=request.user, site=site, domain=request.POST.get("domain", ""))
    except (ValidationError, JobBusy) as exc:
        messages.error(request, _message(exc))
        return redirect("site_detail", pk=site.pk)
    messages.success(
        request,
        _("Removing %(name)s from %(domain)s.")
        % {"name": to_unicode(job.payload["remove"]), "domain": site.display_domain},
    )
    return redirect("job_detail", pk=job.pk)


@login_required
@require_POST
def site_redirect(request: AuthedRequest, pk: Any) -> HttpResponse:
    """Serve every name, or redirect the other names to the primary, to www. of it, or to one
    of its aliases (field `redirect_to`)."""
    site = get_site_for(request.user, pk)
    form = RedirectModeForm(request.POST, site=site, aliases=list(site.aliases.all()))
    if form.is_valid():
        from panel.sites.aliases import site_set_redirect_mode

        mode = form.cleaned_data["redirect_mode"]
        target = form.cleaned_data["redirect_to"] or None
        job = _on_form(
            form,
            lambda: site_set_redirect_mode(
                user=request.user, site=site, mode=mode, redirect_to=target
            ),
        )
        if job is not None:
            messages.success(
                request,
                _("Changing how %(domain)s answers under its other names.")
                % {"domain": site.display_domain},
            )
            return redirect("job_detail", pk=job.pk)
    context = _detail_context(request, site, redirect_form=form)
    return render(request, "web/site_detail.html", context, status=400)


@login_required
@require_POST
def site_delete(request: AuthedRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
    form = SiteDeleteForm(request.POST, site=site)
    if form.is_valid():
        from panel.sites.services import site_delete as delete_service

        try:
            job = delete_service(user=request.user, site=site)
        except (ValidationError, JobBusy) as exc:
            messages.error(request, _message(exc))
            return redirect("site_detail", pk=site.pk)
        messages.success(request, _("Deleting %(domain)s.") % {"domain": site.display_domain})
        return redirect("job_detail", pk=job.pk)
    context = _detail_context(request, site, delete_form=form)
    return render(request, "web/site_detail.html", context)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)
