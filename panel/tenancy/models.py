"""SFTP keys of a site: table `site_ssh_keys` (beyond the seed; docs/schema.md).

The panel is the source of truth: the worker writes each site user's authorized_keys file (in
NUSANTARA_SSH_KEYS_DIR, root-owned) from these rows through the root helper."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import UUID4
from django.utils.translation import gettext_lazy as _

from panel.common import OwnedQuerySet, created_at


class SiteSshKeyQuerySet(OwnedQuerySet):
    owner_field = "site__created_by_id"


class SiteSshKey(models.Model):
    # New tables follow the seed's conventions (DESIGN.md "Data"): uuid ids with
    # gen_random_uuid() in the database, text columns, timestamptz.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=UUID4(), editable=False)
    site = models.ForeignKey(
        "sites.Site",
        on_delete=models.DB_CASCADE,  # ON DELETE CASCADE in the database: keys go with the site
        db_column="site_id",
        related_name="ssh_keys",
        db_index=False,  # the unique (site_id, fingerprint) index serves lookups by site
        verbose_name=_("site"),
    )
    # The line as the panel rebuilt it after parsing (panel.tenancy.sshkeys): type, base64 and
    # the comment, never any options.
    public_key = models.TextField(_("public key"))
    fingerprint = models.TextField(_("fingerprint"))
    comment = models.TextField(_("comment"), blank=True, default="", db_default="")
    created_at = created_at()

    objects = SiteSshKeyQuerySet.as_manager()

    class Meta:
        db_table = "site_ssh_keys"
        ordering = ["created_at"]
        verbose_name = _("SSH key")
        verbose_name_plural = _("SSH keys")
        constraints = [
            # One key once per site (a second add of the same key is refused, also in a race).
            models.UniqueConstraint(
                fields=["site", "fingerprint"], name="site_ssh_keys_site_fp_uniq"
            ),
            models.CheckConstraint(
                condition=Q(fingerprint__startswith="SHA256:"), name="site_ssh_keys_fp_check"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.fingerprint} {self.comment}".strip()
