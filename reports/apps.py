from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Email reports"

    def ready(self):
        from . import receivers, webhooks  # noqa: F401  (connect the signal receivers)
