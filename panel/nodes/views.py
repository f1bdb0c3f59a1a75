"""Nodes (admins): the list with heartbeat, health, site and failed-job counts; register a node;
drain, disable or activate one."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from panel.accounts.access import admin_required
from panel.web.forms import add_service_errors

from .forms import NodeCreateForm, NodeStatusForm
from .models import Node, NodeStatus
from .services import node_create, node_set_status


def _counts(related: str, **where: Any) -> dict[Any, int]:
    """{node id: count} of a table that points at nodes (through the reverse relation, so this
    app needs neither the sites nor the jobs app: both build on it)."""
    rows = Node.objects.filter(**{f"{related}__isnull": False, **where}).values("pk")
    return dict(rows.annotate(n=Count(related)).values_list("pk", "n"))


@admin_required
@require_safe
def node_list(request: HttpRequest) -> HttpResponse:
    """Three queries whatever the number of nodes and sites: the nodes, then the site and
    failed-job counts grouped by node."""
    sites = _counts("sites")
    failed = _counts("jobs", jobs__status="failed")
    rows = [
        {
            "node": node,
            "site_count": sites.get(node.pk, 0),
            "failed_jobs": failed.get(node.pk, 0),
            "services": [(name, node.health.get(name) or {}) for name in ("nginx", "php-fpm")],
        }
        for node in Node.objects.order_by("name")
    ]
    context = {
        "rows": rows,
        "statuses": NodeStatus.choices,
        "offline_after": settings.NUSANTARA_NODE_OFFLINE_AFTER,
    }
    return render(request, "nodes/list.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def node_new(request: HttpRequest) -> HttpResponse:
    form = NodeCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            node = node_create(
                user=request.user,
                name=form.cleaned_data["name"],
                address=form.cleaned_data["address"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                _(
                    "Node %(name)s registered. Start its worker with NUSANTARA_NODE=%(name)s; "
                    "it shows as online after its first heartbeat."
                )
                % {"name": node.name},
            )
            return redirect("node_list")
    return render(request, "nodes/new.html", {"form": form})


@admin_required
@require_POST
def node_status(request: HttpRequest, pk: Any) -> HttpResponse:
    node = Node.objects.filter(pk=pk).first()
    if node is None:
        raise Http404
    form = NodeStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose active, draining or disabled."))
        return redirect("node_list")
    node = node_set_status(user=request.user, node=node, status=form.cleaned_data["status"])
    messages.success(
        request,
        _("Node %(name)s is now %(status)s.")
        % {"name": node.name, "status": node.get_status_display()},
    )
    return redirect("node_list")
