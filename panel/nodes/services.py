"""Node verbs: register a node, drain/disable/activate it, pick the node of a new site, and the
heartbeat a node's worker writes. Which node this process is: settings.NUSANTARA_NODE."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from panel.accounts.models import Role
from panel.audit.actions import AuditAction
from panel.audit.services import audit_record

from . import schedules
from .models import Node, NodeStatus
from .names import normalize_address, normalize_name

# The audit action of each status change.
STATUS_ACTIONS: dict[str, AuditAction] = {
    NodeStatus.ACTIVE: AuditAction.NODE_ACTIVATE,
    NodeStatus.DRAINING: AuditAction.NODE_DRAIN,
    NodeStatus.DISABLED: AuditAction.NODE_DISABLE,
}


def ensure_local_node(*, using: str = "default") -> Node:
    """This process's node (NUSANTARA_NODE, default "local"), created when missing: a fresh
    install and every existing site start on it."""
    return Node.local(using=using)


def ensure_node_schedules(*, using: str = "default") -> None:
    """Every node's heartbeat, reaper and renewal schedules, on its own queue."""
    ensure_local_node(using=using)
    for name in Node.objects.using(using).values_list("name", flat=True):
        schedules.ensure_for(name, using=using)


def current_node() -> Node | None:
    """This process's node row, or None when NUSANTARA_NODE names no registered node."""
    return Node.objects.filter(name=settings.NUSANTARA_NODE).first()


def _require_admin(user: Any) -> None:
    if getattr(user, "role", None) != Role.ADMIN:
        raise PermissionDenied(_("Only an administrator can manage nodes."))


def node_create(*, user: Any, name: str, address: str) -> Node:
    """Register a node (active) and its schedules. Its worker then starts with
    NUSANTARA_NODE=<name> (docs/operations.md "Nodes")."""
    _require_admin(user)
    errors: dict[str, Any] = {}
    try:
        name = normalize_name(name)
    except ValidationError as exc:
        errors["name"] = exc
    try:
        address = normalize_address(address)
    except ValidationError as exc:
        errors["address"] = exc
    if errors:
        raise ValidationError(errors)
    exists = ValidationError({"name": _("A node with this name already exists.")}, code="exists")
    try:
        with transaction.atomic():
            if Node.objects.filter(name=name).exists():
                raise exists
            node = Node.objects.create(name=name, address=address, status=NodeStatus.ACTIVE)
            schedules.ensure_for(name)
            audit_record(
                actor=user,
                action=AuditAction.NODE_CREATE,
                target=node,
                metadata={"name": name, "address": address},
            )
    except IntegrityError as exc:
        if "name" in str(exc):
            raise exists from None
        raise
    return node


def node_set_status(*, user: Any, node: Node, status: str) -> Node:
    """Drain (no new sites), disable, or activate a node; audited. Its sites and their jobs stay
    where they are."""
    _require_admin(user)
    if status not in NodeStatus.values:
        raise ValidationError(_("Unknown node status."), code="status")
    with transaction.atomic():
        locked = Node.objects.select_for_update().get(pk=node.pk)
        if locked.status == status:
            return locked
        before = locked.status
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=user,
            action=STATUS_ACTIONS[status],
            target=locked,
            metadata={"name": locked.name, "from": before, "to": status},
        )
    return locked


def active_nodes() -> Any:
    return Node.objects.filter(status=NodeStatus.ACTIVE).order_by("name")


def _share_locked(node: Node | None) -> Node | None:
    """The node re-read under a share lock (held until the site's transaction ends): a drain or
    disable (which locks the row FOR UPDATE) committed meanwhile is seen, one in progress is
    waited for, and none can commit before the site is in. None when it was deleted."""
    if node is None:
        return None
    if connection.vendor == "postgresql":
        # SQLite (the embedded default) has no row locks and no FOR SHARE: it runs one writer at
        # a time, so the site's transaction already excludes a concurrent drain there.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM nodes WHERE id = %s FOR SHARE", [node.pk])
    return Node.objects.filter(pk=node.pk).first()


def node_for_new_site(*, user: Any, name: str | None = None) -> Node:
    """The node a new site goes to: the one an admin named (active only), otherwise the online
    active node with the fewest sites (any active node when none is online). Raises
    ValidationError keyed "node" (call inside the site's transaction: the chosen node stays
    share-locked until it ends, so a concurrent drain or disable waits for the site, or the site
    sees the drain)."""
    if name:
        if getattr(user, "role", None) != Role.ADMIN:
            raise PermissionDenied(_("Only an administrator can choose the node."))
        node = _share_locked(Node.objects.filter(name=name).first())
        if node is None:
            raise ValidationError({"node": _("There is no node named %(name)s.") % {"name": name}})
        if node.status != NodeStatus.ACTIVE:
            raise ValidationError(
                {
                    "node": _("Node %(name)s is %(status)s: it takes no new sites.")
                    % {"name": node.name, "status": node.get_status_display()}
                },
                code="node_inactive",
            )
        return node
    # Online nodes first: a node registered before its worker ever started (or whose worker
    # is down) would leave the customer's new site queued for nobody. Only when no active node
    # is online (a fresh install before its first heartbeat) does any active node do.
    online_since = timezone.now() - timedelta(seconds=settings.NUSANTARA_NODE_OFFLINE_AFTER)
    fewest: Node | None = None
    passed: list[Any] = []
    for online_only in (True, False):
        while fewest is None:
            candidates = active_nodes().exclude(pk__in=passed)
            if online_only:
                candidates = candidates.filter(last_heartbeat_at__gte=online_since)
            candidate = (
                candidates.annotate(site_count=Count("sites"))
                .order_by("site_count", "name")
                .first()
            )
            if candidate is None:
                break
            fewest = _share_locked(candidate)
            if fewest is None or fewest.status != NodeStatus.ACTIVE:
                passed.append(candidate.pk)  # drained or disabled meanwhile: the next one
                fewest = None
        if fewest is not None:
            break
    if fewest is None:
        raise ValidationError(
            {
                "__all__": _(
                    "No server takes new sites right now (every node is draining or disabled). "
                    "Ask an administrator."
                )
            },
            code="no_node",
        )
    return fewest


def on_this_node(site: Any) -> bool:
    """True when the site lives on this process's node: its files are on this machine."""
    return bool(site.node.name == settings.NUSANTARA_NODE)


def ensure_files_here(site: Any, what: str) -> None:
    """Refuse what the web would have to hand over through its own disk (a staged upload) for a
    site on another node: that node's worker could not see it. ValidationError ("__all__")."""
    if not on_this_node(site):
        name = site.node.name
        raise ValidationError(
            {
                "__all__": _(
                    "%(what)s through the browser reach only sites on the panel's own server; "
                    "this site lives on node %(node)s."
                )
                % {"what": what, "node": name}
            },
            code="remote_node",
        )
