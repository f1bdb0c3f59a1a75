"""A web server that hosts sites: table `nodes` (beyond the seed; docs/schema.md).

Each site lives on one node (`sites.node_id`); the node's own django-q2 worker, started with
`NUSANTARA_NODE=<name>`, runs that site's jobs from the queue named after the node."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import UUID4
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from panel.common import created_at, updated_at

# The address a node made without one (the local node of a fresh install) is recorded with.
LOCAL_ADDRESS = "127.0.0.1"


def local_node_id() -> uuid.UUID:
    """Default of sites.node and jobs.node: this process's node."""
    return Node.local().pk


class OnANodeManager(models.Manager):
    """Manager of sites and jobs: bulk inserts without a node go to this process's node, as
    save() does (the model cannot have a Python default: it would query at every __init__)."""

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        objs = list(objs)
        if any(obj.node_id is None for obj in objs):
            node_id = local_node_id()
            for obj in objs:
                if obj.node_id is None:
                    obj.node_id = node_id
        return super().bulk_create(objs, *args, **kwargs)


class NodeStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    # Keeps serving and running its sites' jobs, but takes no new sites.
    DRAINING = "draining", _("Draining")
    # Takes no new sites; shown as out of service (its worker may be stopped).
    DISABLED = "disabled", _("Disabled")


class Node(models.Model):
    # New tables follow the seed's conventions (DESIGN.md "Data").
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=UUID4(), editable=False)
    # Also the name of the node's django-q2 queue (panel.nodes.names.NAME_RE).
    name = models.TextField(_("name"), unique=True)
    # Host name or IP address the node is reached at (for people and for moving files).
    address = models.TextField(_("address"))
    status = models.TextField(
        _("status"), choices=NodeStatus.choices, default=NodeStatus.ACTIVE, db_default="active"
    )
    # Written by the node's own worker (the heartbeat schedule and every worker spawn).
    last_heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    # What the node's worker measured: {"nginx": {"state", "reason"}, "php-fpm": {...}, "host",
    # "pid", "measured_at"}.
    health = models.JSONField(_("health"), default=dict, db_default={})
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        db_table = "nodes"
        ordering = ["name"]
        verbose_name = _("node")
        verbose_name_plural = _("nodes")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "draining", "disabled"]),
                name="nodes_status_check",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def local(cls, *, using: str = "default") -> Node:
        """This process's node (NUSANTARA_NODE, default "local"), created when missing."""
        node, _created = cls.objects.using(using).get_or_create(
            name=settings.NUSANTARA_NODE,
            defaults={"address": LOCAL_ADDRESS},
        )
        return node

    @property
    def heartbeat_age(self) -> float | None:
        if self.last_heartbeat_at is None:
            return None
        return max(0.0, (timezone.now() - self.last_heartbeat_at).total_seconds())

    @property
    def is_offline(self) -> bool:
        """No heartbeat within NUSANTARA_NODE_OFFLINE_AFTER seconds (or never)."""
        age = self.heartbeat_age
        return age is None or age > settings.NUSANTARA_NODE_OFFLINE_AFTER

    @property
    def offline_since(self) -> timedelta | None:
        age = self.heartbeat_age
        return None if age is None else timedelta(seconds=age)
