from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_disk_usage_schedule(sender: AppConfig, **kwargs: object) -> None:
    from .usage import ensure_schedule

    ensure_schedule(using=str(kwargs.get("using", "default")))


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

        # The disk use schedule exists wherever the database has been migrated (and after a
        # flush), with the interval of the settings.
        post_migrate.connect(
            _ensure_disk_usage_schedule, sender=self, dispatch_uid="tenancy.disk_usage_schedule"
        )
