from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "panel.ops"
    label = "ops"
    verbose_name = "Operations"
