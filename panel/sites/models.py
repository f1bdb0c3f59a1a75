"""A hosted website: table `sites` of the seed (plus `upstream` for the proxy runtime and
`suspended_at` for a site an administrator took offline, `hsts` for Strict-Transport-Security,
`node_id` for the server it lives on)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from panel.common import created_at, updated_at, uuid_pk
from panel.nodes.models import OnANodeManager, local_node_id


class SiteStatus(models.TextChoices):
    PROVISIONING = "provisioning", _("Provisioning")
    ACTIVE = "active", _("Active")
    DELETING = "deleting", _("Deleting")
    FAILED = "failed", _("Failed")


class Runtime(models.TextChoices):
    STATIC = "static", _("Static files")
    PHP = "php", _("PHP (php-fpm)")
    PROXY = "proxy", _("Reverse proxy (Node, Python, ...)")


class Site(models.Model):
    id = uuid_pk()
    domain = models.TextField(_("domain"), unique=True)
    root_path = models.TextField(_("root path"))
    runtime = models.TextField(_("runtime"), choices=Runtime.choices)
    status = models.TextField(_("status"), choices=SiteStatus.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        # NO ACTION in the database, as in the seed: users are deactivated, never deleted while
        # they own sites. DO_NOTHING keeps the certificates' DB_CASCADE chain legal (E323).
        on_delete=models.DO_NOTHING,
        db_column="created_by",
        related_name="sites",
        verbose_name=_("owner"),
    )
    # Extra column (docs/schema.md): the proxy runtime's upstream "host:port"; NULL otherwise.
    upstream = models.TextField(_("upstream"), null=True, blank=True)
    # Extra column (docs/schema.md): set while an administrator has suspended the site (its vhost
    # answers 503); NULL otherwise.
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    # Extra column (docs/schema.md): the owner switched on HSTS for the site's HTTPS vhost
    # (Strict-Transport-Security, two years); off unless asked for, see docs/security.md.
    hsts = models.BooleanField(_("HSTS"), default=False, db_default=False)
    # Extra column (docs/schema.md): the site's own Linux user ("np" + 10 hex digits of the id),
    # which owns its files and runs its PHP. NULL only for sites created before tenancy, until
    # their `site.migrate_home` job has run (`manage.py tenancy_migrate`).
    system_user = models.TextField(_("system user"), null=True, blank=True, unique=True)
    # Extra column (docs/schema.md): the node (web server) the site lives on; its worker runs
    # the site's jobs. Defaults to this process's node (NUSANTARA_NODE).
    node = models.ForeignKey(
        "nodes.Node",
        # NO ACTION in the database: a node that still has sites (or jobs) cannot be deleted.
        # DO_NOTHING, like created_by, keeps the certificates' DB_CASCADE chain legal (E323).
        on_delete=models.DO_NOTHING,
        db_column="node_id",
        related_name="sites",
        verbose_name=_("node"),
    )
    created_at = created_at()
    updated_at = updated_at()

    objects = OnANodeManager()

    class Meta:
        db_table = "sites"
        ordering = ["domain"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["provisioning", "active", "deleting", "failed"]),
                name="sites_status_check",
            ),
        ]

    def __str__(self) -> str:
        return self.display_domain

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A row saved without a node goes to this process's node (NUSANTARA_NODE); the database
        # default does the same for INSERTs that know only the seed's columns (sites 0007).
        if self.node_id is None:
            self.node_id = local_node_id()
        super().save(*args, **kwargs)

    @property
    def display_domain(self) -> str:
        from panel.sites.domains import to_unicode

        return to_unicode(self.domain)
