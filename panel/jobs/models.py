"""A unit of work with side effects on the server: table `jobs` of the seed (plus owner, log)."""

from __future__ import annotations

from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from panel.common import created_at, sees_everything, uuid_pk
from panel.nodes.models import OnANodeManager, local_node_id


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCESS = "success", _("Success")
    FAILED = "failed", _("Failed")


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class JobQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> Self:
        """A user's jobs: the ones they asked for, and every job on a site they own (an admin
        may have asked for it). The site ids are read first (one small query) because
        PostgreSQL can then OR two index scans; with a sub-select it scans the whole jobs table.
        `user.sites` is Site.objects.visible_to(user) for a non-admin, without this app
        importing the sites app (which builds on jobs)."""
        if sees_everything(user):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        own_sites = list(user.sites.values_list("id", flat=True))
        return self.filter(Q(created_by_id=user.pk) | Q(site_id__in=own_sites))


# Bulk inserts without a node go to this process's node (OnANodeManager) + visible_to.
JobManager = OnANodeManager.from_queryset(JobQuerySet)


class Job(models.Model):
    id = uuid_pk()
    type = models.TextField(_("type"))
    status = models.TextField(_("status"), choices=JobStatus.choices, default=JobStatus.QUEUED)
    payload = models.JSONField(_("payload"), default=dict, db_default={})
    error_message = models.TextField(_("error"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_at = created_at()
    # Extra columns (docs/schema.md). site_id has no FK on purpose: a job's history outlives the
    # site it deleted. created_by/site_id make "own jobs" and "the site's jobs" indexed lookups.
    site_id = models.UUIDField(_("site"), null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_column="created_by",
        null=True,
        blank=True,
        related_name="jobs",
        verbose_name=_("requested by"),
    )
    log = models.JSONField(_("log"), default=list, db_default=[])
    attempts = models.IntegerField(_("attempts"), default=0, db_default=0)
    # "host:pid" of the worker running the job, so the reaper can tell a live job from one whose
    # worker died (docs/jobs.md).
    worker = models.TextField(_("worker"), null=True, blank=True)
    # The node whose worker runs the job (its site's node when queued; a job without a site runs
    # on the node of the process that queued it). Its django-q2 queue is named after the node.
    node = models.ForeignKey(
        "nodes.Node",
        # NO ACTION in the database: a node that still has sites (or jobs) cannot be deleted.
        # DO_NOTHING, like created_by, keeps the certificates' DB_CASCADE chain legal (E323).
        on_delete=models.DO_NOTHING,
        db_column="node_id",
        related_name="jobs",
        verbose_name=_("node"),
    )

    objects = JobManager()

    class Meta:
        db_table = "jobs"
        ordering = ["-created_at"]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        indexes = [
            models.Index(fields=["status", "-created_at"], name="jobs_status_created_at_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "success", "failed"]),
                name="jobs_status_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A row saved without a node goes to this process's node (NUSANTARA_NODE); the database
        # default does the same for INSERTs that know only the seed's columns (sites 0007).
        if self.node_id is None:
            self.node_id = local_node_id()
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES
