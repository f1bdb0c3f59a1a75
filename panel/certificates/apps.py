from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CertificatesConfig(AppConfig):
    name = "panel.certificates"
    label = "certificates"
    verbose_name = _("Certificates")

    def ready(self) -> None:
        # Registers ssl.issue / ssl.renew in the web and in the worker alike.
        from panel.audit.names import register_target
        from panel.sites import extensions
        from panel.sites.domains import to_unicode

        from . import handlers, views
        from .models import SslCertificate

        extensions.add(extensions.after_site_provisioned, handlers.request_after_provisioning)
        extensions.add(extensions.after_site_names_changed, handlers.reissue_for_new_name)
        extensions.add(extensions.site_cards, views.upload_card)
        extensions.add(extensions.site_list_columns, views.site_list_columns)
        register_target("sslcertificate", SslCertificate, "site__domain", to_unicode)
        from .services import ensure_schedules

        # django_q's tables exist after its migrations; post_migrate runs after all of them.
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="ssl-renewal-schedule")
