from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_heartbeat_schedule(sender: AppConfig, **kwargs: object) -> None:
    from .heartbeat import ensure_schedule

    ensure_schedule(using=str(kwargs.get("using", "default")))


class OpsConfig(AppConfig):
    name = "panel.ops"
    label = "ops"
    verbose_name = _("Operations")

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from .heartbeat import on_worker_spawn

        post_spawn.connect(on_worker_spawn, dispatch_uid="panel.ops.heartbeat")
        # Also after a flush (tests, `manage.py flush`), not only in migration 0002.
        post_migrate.connect(
            _ensure_heartbeat_schedule, sender=self, dispatch_uid="panel.ops.heartbeat_schedule"
        )
