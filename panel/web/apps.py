from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "panel.web"
    label = "web"
    verbose_name = "Web"
