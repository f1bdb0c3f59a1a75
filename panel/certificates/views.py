"""The certificates page (every certificate the user may see, soonest expiry first), and a
site's certificate: request or renew, upload, the upload card and the site list's columns
(registered in panel/sites/extensions.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F, OuterRef, Subquery
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from panel.accounts.access import AuthedRequest
from panel.certificates.models import CertStatus, SslCertificate
from panel.jobs.services import JobBusy
from panel.sites.views import _detail_context, _message, _on_form
from panel.web.access import get_site_for
from panel.web.decorators import login_required
from panel.web.forms import add_service_errors
from panel.web.paging import paginate
from panel.web.selectors import page_by_ids

from .forms import CertificateUploadForm
from .services import ISSUE, RENEW, certificate_request, certificate_upload


@login_required
@require_GET
def certificate_list(request: AuthedRequest) -> HttpResponse:
    qs = SslCertificate.objects.visible_to(request.user).select_related("site", "site__created_by")
    status = request.GET.get("status", "")
    if status in CertStatus.values:
        qs = qs.filter(status=status)
    order = [F("expires_at").asc(nulls_last=True), "pk"]
    page = paginate(request, fetch=lambda start, stop: page_by_ids(qs, order, start, stop))
    return render(
        request,
        "web/certificate_list.html",
        {"page": page, "status": status, "statuses": CertStatus.choices},
    )


def _latest_certificate(field: str) -> Subquery:
    latest = SslCertificate.objects.filter(site_id=OuterRef("pk")).order_by("-created_at")
    return Subquery(latest.values(field)[:1])


def site_list_columns() -> dict[str, Any]:
    """The site list's certificate columns: the latest certificate's status and expiry."""
    return {
        "cert_status": _latest_certificate("status"),
        "cert_expires": _latest_certificate("expires_at"),
    }


def upload_card(
    request: AuthedRequest, site: Any, context: dict[str, Any], forms: dict[str, Any]
) -> dict[str, Any]:
    """The certificate upload form of the site page (the certificate itself is the page's)."""
    return {"upload_form": forms.get("upload_form") or CertificateUploadForm()}


@login_required
@require_POST
def site_certificate(request: AuthedRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
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
def site_certificate_upload(request: AuthedRequest, pk: Any) -> HttpResponse:
    site = get_site_for(request.user, pk)
    form = CertificateUploadForm(request.POST)
    if form.is_valid():
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
    data = request.POST.copy()
    data["key_pem"] = ""
    form.data = data
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
