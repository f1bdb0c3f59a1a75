"""The worker's heartbeat: one row, touched by the worker, read by /healthz."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Heartbeat(models.Model):
    # One row per worker kind; "worker" is the django-q2 cluster. A row instead of the cache
    # because the embedded default has no shared cache and the web must see what the worker wrote.
    name = models.TextField(_("name"), primary_key=True)
    beat_at = models.DateTimeField(_("last heartbeat"))
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        db_table = "ops_heartbeat"
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at.isoformat()}"
