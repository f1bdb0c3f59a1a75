from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "panel.tenancy"
    label = "tenancy"
    verbose_name = _("Tenancy")

    def ready(self) -> None:
        # Registers the site.migrate_home, site.upload, sftp.keys and sftp.password job
        # handlers in the web process and in every worker.
        from . import handlers, sftp_handlers, uploads  # noqa: F401
