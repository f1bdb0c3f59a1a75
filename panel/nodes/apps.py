from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_local_node(sender: AppConfig, **kwargs: object) -> None:
    from .services import ensure_local_node, ensure_node_schedules

    using = str(kwargs.get("using", "default"))
    ensure_local_node(using=using)
    ensure_node_schedules(using=using)


class NodesConfig(AppConfig):
    name = "panel.nodes"
    label = "nodes"
    verbose_name = _("Nodes")

    def ready(self) -> None:
        # After every migrate and flush: this process's node exists and every node has its
        # heartbeat, reaper and renewal schedules (on its own queue).
        post_migrate.connect(_ensure_local_node, sender=self, dispatch_uid="nodes.local_node")
