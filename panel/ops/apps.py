from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    name = "panel.ops"
    label = "ops"
    verbose_name = _("Operations")

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from .heartbeat import on_worker_spawn

        post_spawn.connect(on_worker_spawn, dispatch_uid="panel.ops.heartbeat")
