from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SitesConfig(AppConfig):
    name = "panel.sites"
    label = "sites"
    verbose_name = _("Sites")

    def ready(self) -> None:
        # Registers the site.* job handlers in the web process and in every worker.
        from . import handlers, resync  # noqa: F401
