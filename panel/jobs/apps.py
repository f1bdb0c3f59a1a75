from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_schedules(sender: AppConfig, **kwargs: object) -> None:
    from .recovery import ensure_schedules

    ensure_schedules()


class JobsConfig(AppConfig):
    name = "panel.jobs"
    label = "jobs"
    verbose_name = _("Jobs")

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from .recovery import on_worker_spawn

        # A re-spawned worker process requeues at once the jobs of the one that died.
        post_spawn.connect(on_worker_spawn, dispatch_uid="jobs.recover_dead_local_workers")
        # The reaper schedule exists wherever the database has been migrated.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="jobs.ensure_schedules")
