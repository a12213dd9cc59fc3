from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Email reports"

    def ready(self):
        from . import checks, receivers, webhooks  # noqa: F401  (register the checks, connect the receivers)
