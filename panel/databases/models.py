"""A site's MariaDB database and its user: table `databases` (beyond the seed; docs/schema.md).

The panel keeps the names and the state, never the password: the worker creates the database
and the user on the node's MariaDB (panel.databases.handlers)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import UUID4
from django.utils.translation import gettext_lazy as _

from panel.common import OwnedQuerySet, created_at, updated_at


class DatabaseStatus(models.TextChoices):
    CREATING = "creating", _("Creating")
    ACTIVE = "active", _("Active")
    DELETING = "deleting", _("Deleting")
    FAILED = "failed", _("Failed")


class DatabaseQuerySet(OwnedQuerySet):
    owner_field = "site__created_by_id"


class Database(models.Model):
    # New tables follow the seed's conventions (DESIGN.md "Data"): uuid ids with
    # gen_random_uuid() in the database, text columns, timestamptz.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=UUID4(), editable=False)
    site = models.ForeignKey(
        "sites.Site",
        on_delete=models.DB_CASCADE,  # ON DELETE CASCADE in the database: rows go with the site
        db_column="site_id",
        related_name="databases",
        verbose_name=_("site"),
    )
    # The full MariaDB names, `<site user>_<name>` (panel.databases.names); the site user is
    # unique, so these are too.
    name = models.TextField(_("database"), unique=True)
    db_user = models.TextField(_("database user"), unique=True)
    status = models.TextField(
        _("status"), choices=DatabaseStatus.choices, default=DatabaseStatus.CREATING
    )
    created_at = created_at()
    updated_at = updated_at()

    objects = DatabaseQuerySet.as_manager()

    class Meta:
        db_table = "databases"
        ordering = ["name"]
        verbose_name = _("database")
        verbose_name_plural = _("databases")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["creating", "active", "deleting", "failed"]),
                name="databases_status_check",
            ),
        ]

    def __str__(self) -> str:
        return self.name
