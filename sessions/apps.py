from django.apps import AppConfig


class TutoringConfig(AppConfig):
    # The package is `sessions` (SPEC §3) but that label belongs to django.contrib.sessions.
    name = "sessions"
    label = "tutoring"
    verbose_name = "Tutoring platform data"

    def ready(self):
        from . import signals  # noqa: F401
