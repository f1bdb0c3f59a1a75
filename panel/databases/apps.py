from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DatabasesConfig(AppConfig):
    name = "panel.databases"
    label = "databases"
    verbose_name = _("Databases")

    def ready(self) -> None:
        # Registers the db.create, db.password and db.delete job handlers in the web process and
        # in every worker.
        from panel.sites import extensions

        from . import handlers, views

        extensions.add(extensions.before_site_delete, handlers.before_site_delete)
        extensions.add(extensions.site_cards, views.databases_card)
