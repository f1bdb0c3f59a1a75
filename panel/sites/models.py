"""A hosted website: table `sites` of the seed (plus `upstream` for the proxy runtime and
`suspended_at` for a site an administrator took offline, `hsts` for Strict-Transport-Security,
`system_user`, `disk_bytes`/`disk_measured_at` for the disk use of its home, `redirect_mode` and
`redirect_to` for its other names, `node_id` for the server it lives on), and a site's other
names: table `site_domains`."""

from __future__ import annotations

import uuid
from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import UUID4
from django.utils.translation import gettext_lazy as _

from panel.common import OwnedQuerySet, created_at, updated_at, uuid_pk
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


class RedirectMode(models.TextChoices):
    SERVE_ALL = "serve_all", _("Serve the site under every name")
    TO_PRIMARY = "to_primary", _("Redirect every other name to the primary domain")
    TO_WWW = "to_www", _("Redirect every other name to www. of the primary domain")
    TO_ALIAS = "to_alias", _("Redirect every other name to another of its names")


class SiteQuerySet(OwnedQuerySet):
    owner_field = "created_by_id"

    def of_job(self, job: Any) -> Self:
        """The site a job is about (none for a job on no site)."""
        return self.none() if job.site_id is None else self.filter(pk=job.site_id)


# Bulk inserts without a node go to this process's node (OnANodeManager) + visible_to, of_job.
SiteManager = OnANodeManager.from_queryset(SiteQuerySet)


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
    # Extra columns (docs/schema.md): the disk space the site's home takes (allocated bytes, as
    # `du` counts) and when the periodic measurement (panel/tenancy/usage.py) last succeeded for
    # it. NULL until it has: never a guess.
    disk_bytes = models.BigIntegerField(_("disk use"), null=True, blank=True)
    disk_measured_at = models.DateTimeField(_("disk use measured at"), null=True, blank=True)
    # Extra column (docs/schema.md): what the site's other names (aliases) do: serve the site
    # too, or answer 301 to the primary name (or to www. of it), path and query kept.
    redirect_mode = models.TextField(
        _("redirect mode"),
        choices=RedirectMode.choices,
        default=RedirectMode.SERVE_ALL,
        db_default=RedirectMode.SERVE_ALL,
    )
    # Extra column (docs/schema.md): with redirect mode `to_alias`, the alias every other name
    # (the primary too) redirects to, e.g. the site's new name; NULL otherwise.
    redirect_to = models.TextField(_("redirect to"), null=True, blank=True)
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

    objects = SiteManager()

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
            models.CheckConstraint(
                condition=Q(redirect_mode__in=["serve_all", "to_primary", "to_www", "to_alias"]),
                name="sites_redirect_mode_check",
            ),
            models.CheckConstraint(
                condition=Q(redirect_mode="to_alias", redirect_to__isnull=False)
                | (~Q(redirect_mode="to_alias") & Q(redirect_to__isnull=True)),
                name="sites_redirect_to_check",
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


class SiteDomain(models.Model):
    """Another name of a site (an alias such as www.example.co.id): table `site_domains`
    (beyond the seed; docs/schema.md). A name is unique over this table and `sites.domain`
    together, which a trigger guarantees on PostgreSQL (migration sites.0006)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=UUID4(), editable=False)
    site = models.ForeignKey(
        Site,
        on_delete=models.DB_CASCADE,  # ON DELETE CASCADE in the database: names go with the site
        db_column="site_id",
        related_name="aliases",
        verbose_name=_("site"),
    )
    # Stored normalised like sites.domain: lower-case punycode, no trailing dot.
    domain = models.TextField(_("domain"), unique=True)
    created_at = created_at()

    class Meta:
        db_table = "site_domains"
        ordering = ["domain"]
        verbose_name = _("alias")
        verbose_name_plural = _("aliases")

    def __str__(self) -> str:
        return self.display_domain

    @property
    def display_domain(self) -> str:
        from panel.sites.domains import to_unicode

        return to_unicode(self.domain)
