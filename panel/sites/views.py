"""Sites: list, create, detail (with live status), settings, HSTS, delete, certificate request
and upload."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import idna
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from panel.accounts.access import admin_required
from panel.audit.models import AuditLog
from panel.certificates.models import CertStatus, SslCertificate
from panel.jobs.models import ACTIVE_STATUSES, Job, JobStatus
from panel.jobs.services import JobBusy
from panel.nodes.services import on_this_node
from panel.sites.models import SiteStatus
from panel.web.access import get_site_for, sites_for
from panel.web.decorators import login_required
from panel.web.forms import add_service_errors
from panel.web.paging import paginate

from .forms import (
    SUSPENDED,
    CertificateUploadForm,
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
    return {"used": sites_for(user).count(), "limit": user.site_limit}


def _search_terms(q: str) -> set[str]:
    """Domains are stored in punycode: search for what was typed and for its punycode form."""
    terms = {q.strip().lower()}
    with contextlib.suppress(idna.IDNAError, UnicodeError, ValueError):
        terms.add(idna.encode(q.strip().lower(), uts46=True).decode("ascii"))
    return {t for t in terms if t}


def _latest_certificate(field: str) -> Subquery:
    latest = SslCertificate.objects.filter(site_id=OuterRef("pk")).order_by("-created_at")
    return Subquery(latest.values(field)[:1])


@login_required
@require_GET
def site_list(request: HttpRequest) -> HttpResponse:
    filters = SiteFilterForm(request.GET)
    qs = sites_for(request.user).select_related("created_by")
    if filters.is_valid():
        if q := filters.cleaned_data["q"]:
            match = Q()
            for term in _search_terms(q):
                match |= Q(domain__contains=term)
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
    qs = qs.annotate(
        cert_status=_latest_certificate("status"), cert_expires=_latest_certificate("expires_at")
    ).order_by("domain")
    page = paginate(request, qs)
    context = {"page": page, "filters": filters, "quota": _quota(request.user)}
    return render(request, "web/site_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def site_new(request: HttpRequest) -> HttpResponse:
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


def _detail_context(request: HttpRequest, site: Any, **forms: Any) -> dict[str, Any]:
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
        or (certificate is not None and certificate.status == CertStatus.PENDING)
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
    context["upload_form"] = forms.get("upload_form") or CertificateUploadForm()
    context["delete_form"] = forms.get("delete_form") or SiteDeleteForm(site=site)
    context["settings_form"] = forms.get("settings_form") or SiteSettingsForm(site=site)
    context["suspend_form"] = forms.get("suspend_form") or SiteSuspendForm()
    context["hsts_form"] = forms.get("hsts_form") or SiteHstsForm()
    context["suspension"] = _suspension(site)
    from panel.tenancy.file_views import upload_context

    context.update(upload_context(site, jobs, forms.get("files_form")))
    if request.user.is_admin and on_this_node(site):
        from panel.sites.nginx import read_vhosts

        context["vhost"], context["vhost_rejected"] = read_vhosts(site.domain)
    # The web never reads another node's files: the vhost lives on that node's disk.
    context["remote_node"] = None if on_this_node(site) else site.node
    context["can_change_settings"] = site.status in (SiteStatus.ACTIVE, SiteStatus.FAILED)
    from panel.tenancy.sftp_views import sftp_context  # the SFTP card

    context.update(sftp_context(request, site))
    from panel.databases.views import databases_context  # the databases card

    context.update(databases_context(request, site))
    return context


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
def site_detail(request: HttpRequest, pk: Any) -> HttpResponse:
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
        Job.objects.filter(site_id=site.pk, type="site.suspend", status=JobStatus.SUCCESS)
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
def site_suspension(request: HttpRequest, pk: Any) -> HttpResponse:
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
def site_hsts(request: HttpRequest, pk: Any) -> HttpResponse:
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
def site_settings(request: HttpRequest, pk: Any) -> HttpResponse:
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
def site_delete(request: HttpRequest, pk: Any) -> HttpResponse:
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


@login_required
@require_POST
def site_certificate(request: HttpRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
    from panel.certificates.services import ISSUE, RENEW, certificate_request

    current = site.certificates.order_by("-created_at").first()
    renew = current is not None and current.renewable
    try:
        certificate_request(user=request.user, site=site, job_type=RENEW if renew else ISSUE)
    except (ValidationError, JobBusy) as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(
            request,
            _("Certificate requested for %(domain)s. This page updates when it is issued.")
            % {"domain": site.display_domain},
        )
    return redirect("site_detail", pk=site.pk)


@login_required
@require_POST
def site_certificate_upload(request: HttpRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
    form = CertificateUploadForm(request.POST)
    if form.is_valid():
        from panel.certificates.services import certificate_upload

        job = _on_form(
            form,
            lambda: certificate_upload(
                user=request.user,
                site=site,
                chain_pem=form.cleaned_data["chain_pem"],
                key_pem=form.cleaned_data["key_pem"],
            ),
            _upload_errors,
        )
        if job is not None:
            messages.success(
                request,
                _("The certificate passed the checks and is being installed on %(domain)s.")
                % {"domain": site.display_domain},
            )
            return redirect("job_detail", pk=job.pk)
    # Never echo the private key back into the page.
    form.data = form.data.copy()
    form.data["key_pem"] = ""
    context = _detail_context(request, site, upload_form=form)
    return render(request, "web/site_detail.html", context)


def _upload_errors(form: CertificateUploadForm, exc: ValidationError) -> None:
    """The upload check raises plain errors with codes; show each under the field it is about."""
    if hasattr(exc, "error_dict"):
        add_service_errors(form, exc, aliases={"chain": "chain_pem", "key": "key_pem"})
        return
    for error in exc.error_list:
        code = error.code or ""
        if code.startswith("key_"):
            form.add_error("key_pem", error)
        elif code.startswith("cert_") or code in ("wrong_domain", "not_yet_valid", "expired"):
            form.add_error("chain_pem", error)
        else:
            form.add_error(None, error)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)
