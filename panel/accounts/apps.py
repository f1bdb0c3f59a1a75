from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "panel.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from panel.audit.names import register_target

        from . import signals  # noqa: F401
        from .models import User

        register_target("user", User, "username")
