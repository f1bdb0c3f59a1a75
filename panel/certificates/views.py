"""The certificates page: every certificate the user may see, soonest expiry first."""

from __future__ import annotations

from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from panel.certificates.models import CertStatus, SslCertificate
from panel.web.decorators import login_required
from panel.web.paging import paginate
from panel.web.selectors import page_by_ids


@login_required
@require_GET
def certificate_list(request: HttpRequest) -> HttpResponse:
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
