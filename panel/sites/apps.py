from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SitesConfig(AppConfig):
    name = "panel.sites"
    label = "sites"
    verbose_name = _("Sites")

    def ready(self) -> None:
        # Registers the site.* job handlers in the web process and in every worker.
        from panel.audit.names import register_target
        from panel.jobs.services import SITE_LOCKS

        from . import handlers, resync, services  # noqa: F401
        from .domains import to_unicode
        from .models import Site

        register_target("site", Site, "domain", to_unicode)
        if services.lock_site_row not in SITE_LOCKS:  # ready() may run again (tests)
            SITE_LOCKS.append(services.lock_site_row)
