"""Who changed what, when: table `audit_logs` of the seed. Rows are only ever inserted."""

from __future__ import annotations

from typing import Any, Self

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from panel.common import created_at, sees_everything


class AuditLogQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> Self:
        """The audit log is for administrators only: everyone else sees no entry of it."""
        return self if sees_everything(user) else self.none()


class AuditLog(models.Model):
    id = models.BigAutoField(primary_key=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_column="actor_user_id",
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    action = models.TextField(_("action"))
    target_type = models.TextField(_("target type"))
    target_id = models.TextField(_("target id"), null=True, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, db_default={})
    created_at = created_at()

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        db_table = "audit_logs"
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = [
            models.Index(fields=["-created_at"], name="audit_logs_created_at_idx"),
            # Extra (docs/schema.md): a site's audit trail among a million rows.
            models.Index(
                fields=["target_type", "target_id", "-created_at"], name="audit_logs_target_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"
