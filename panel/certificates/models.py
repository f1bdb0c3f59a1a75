"""A site's TLS certificate: table `ssl_certificates` of the seed (plus renewal bookkeeping)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from panel.common import OwnedQuerySet, created_at, updated_at, uuid_pk


class CertStatus(models.TextChoices):
    ISSUED = "issued", _("Issued")
    PENDING = "pending", _("Pending")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


class Provider(models.TextChoices):
    LETSENCRYPT = "letsencrypt", _("ACME (Let's Encrypt)")
    CUSTOM = "custom", _("Uploaded certificate")


class SslCertificateQuerySet(OwnedQuerySet):
    owner_field = "site__created_by_id"


class SslCertificate(models.Model):
    id = uuid_pk()
    site = models.ForeignKey(
        "sites.Site",
        on_delete=models.DB_CASCADE,
        db_column="site_id",
        related_name="certificates",
        verbose_name=_("site"),
    )
    provider = models.TextField(
        _("provider"),
        choices=Provider.choices,
        default=Provider.LETSENCRYPT,
        db_default="letsencrypt",
    )
    status = models.TextField(_("status"), choices=CertStatus.choices)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    # Extra columns (docs/schema.md): what the CA said last, the serving certificate's serial,
    # and renewal backoff, so failures are visible and retried without giving up silently.
    error_message = models.TextField(_("last error"), null=True, blank=True)
    serial = models.TextField(_("serial"), null=True, blank=True)
    failure_count = models.IntegerField(_("failed attempts"), default=0, db_default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # Extra column (docs/schema.md): the site's names this certificate covers (a JSON list of
    # normalised names, the primary first); NULL for rows from before aliases (the primary).
    domains = models.JSONField(_("names"), null=True, blank=True)
    created_at = created_at()
    updated_at = updated_at()

    objects = SslCertificateQuerySet.as_manager()

    class Meta:
        db_table = "ssl_certificates"
        ordering = ["expires_at"]
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["issued", "pending", "failed", "expired"]),
                name="ssl_certificates_status_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site_id} ({self.status})"

    @property
    def pending(self) -> bool:
        return self.status == CertStatus.PENDING

    @property
    def covered_names(self) -> set[str]:
        """The names HTTPS serves with this certificate now: its names while it is issued."""
        return set(self.domains or []) if self.status == CertStatus.ISSUED else set()

    @property
    def renewable(self) -> bool:
        """Installed once (serving, or past its expiry): asking the CA again renews it. A
        certificate that was never issued (pending, or its first attempt failed) is requested."""
        return self.status in (CertStatus.ISSUED, CertStatus.EXPIRED)
