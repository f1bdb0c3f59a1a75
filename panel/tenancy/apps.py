from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "panel.tenancy"
    label = "tenancy"
    verbose_name = _("Tenancy")

    def ready(self) -> None:
        # Registers the site.migrate_home, site.upload, sftp.keys and sftp.password job
        # handlers in the web process and in every worker.
        from panel.sites import extensions

        from . import file_views, handlers, sftp_handlers, sftp_views, uploads  # noqa: F401

        extensions.add(extensions.site_cards, file_views.files_card)
        extensions.add(extensions.site_cards, sftp_views.sftp_card)
